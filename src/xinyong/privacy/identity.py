"""Resident ID numbers (GB 11643-1999): validation with reasons, derived facts, normalisation.

Validation uses python-stdnum's ``stdnum.cn.ric`` step by step, so that a refusal can say which
part is wrong: length or characters, birth date, region code, or the check character.
"""

from __future__ import annotations

import unicodedata
from datetime import date
from functools import lru_cache
from typing import NamedTuple

from stdnum.cn import ric

from xinyong import clock

# stdnum's ric.validate() does the same checks in one call; we run them step by step (birth date
# parsed here, region from stdnum's cn/loc table, check digit by ric.calc_check_digit's formula) to
# say which part is wrong and to avoid its per-call clean-up on the bulk path. tests/privacy proves
# with hypothesis that the result is the same as stdnum's steps plus our rules.

_CHECK_CHARS = "0123456789X"  # by checksum (0-10, ric.calc_check_digit's); also every allowed last character
_EARLIEST_BIRTH = date(1900, 1, 1)

# code -> (中文, English)
ID_ERRORS: dict[str, tuple[str, str]] = {
    "id_missing": ("身份证号码不能为空", "ID number is required"),
    "id_length": ("身份证号码应为18位", "ID number must have 18 characters"),
    "id_characters": (
        "身份证号码只能包含数字，最后一位可为数字或X",
        "ID number may contain only digits, with a digit or X last",
    ),
    "id_birth_date": ("身份证号码中的出生日期不存在或不合理", "birth date in the ID number is impossible"),
    "id_region": ("身份证号码中的地区代码不存在", "region code in the ID number is unknown"),
    "id_checksum": ("身份证号码校验位错误", "check character of the ID number is wrong"),
}


class InvalidIdNumber(ValueError):
    """Carries a stable ``code`` and bilingual messages; never the number itself."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.message_zh, self.message_en = ID_ERRORS[code]
        super().__init__(f"{self.message_zh} / {self.message_en}")

    @property
    def message(self) -> str:
        return f"{self.message_zh} / {self.message_en}"


class IdFacts(NamedTuple):
    """What a valid number says. Immutable; a tuple because one is built for every row of a bulk
    file and a frozen dataclass cost 1.5 µs to build, more than a third of :func:`check`."""

    number: str  # normalised (upper-case X); never printed (see __repr__)
    birth_date: date
    gender: str  # "M" | "F"
    region_code: str
    region_name: str

    def __repr__(self) -> str:
        return (f"IdFacts(birth_date={self.birth_date!r}, gender={self.gender!r}, "
                f"region_code={self.region_code!r}, region_name={self.region_name!r})")

    __str__ = __repr__


# The full-width forms of ASCII (U+FF01-FF5E), as NFKC reads them — and nothing else NFKC folds:
# superscript (¹²³), circled or mathematical (𝟏𝟐) digits are no way of typing a number, and one
# accepted so would be a valid number that masking (privacy.masking) does not recognise.
_FULL_WIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}


def normalise(value: str) -> str:
    """Trimmed, upper-case ``X``; full-width digits and letters (１１０１０１…，ｘ — typed with a Chinese
    input method in full-width mode) as their ASCII selves, so that the same number typed either
    way is one person; without the invisible format characters (Unicode Cf: zero-width space, the
    byte-order mark, bidirectional marks) that copying from a web page or a chat brings along —
    a spreadsheet shows none of them, and the number was refused as "must have 18 characters"
    (names drop them too: ``subjects.service.without_invisible``)."""
    if not isinstance(value, str):
        return ""
    if not value.isascii():
        value = value.translate(_FULL_WIDTH)
        if not value.isprintable():  # (no Cf character is printable: the common case costs one call)
            value = "".join(c for c in value if unicodedata.category(c) != "Cf")
    return value.strip().upper()


@lru_cache(maxsize=8192)
def _region_periods(region_code: str) -> tuple[tuple[int | None, int | None, str], ...]:
    """(first year, last year, name) of each period in which a county-level code was in use."""
    from stdnum import numdb

    try:
        results = numdb.get("cn/loc").info(region_code)
    except (LookupError, ValueError):
        return ()
    info = {k: v for _part, props in results for k, v in props.items()}
    county = info.get("county")
    if not county:  # unknown, or known only above county level (e.g. 110001)
        return ()
    prefix = info.get("province", "") + info.get("prefecture", "")
    periods = []
    for item in county.split(","):
        start = end = None
        name = item
        if item.startswith("[") and "]" in item:
            span, name = item[1:].split("]", 1)
            first, _, last = span.partition("-")
            start, end = (int(first) if first else None), (int(last) if last else None)
        periods.append((start, end, prefix + name))
    return tuple(periods)


def _region(region_code: str, year: int, until: int | None = None) -> str | None:
    """The region's name if its code was in use at some time from ``year`` (birth) to ``until``.

    The address code is that of the holder's registered residence when the number was issued,
    not of the birthplace: someone born in 1970 in what became 南山区 (code 440305, in use from
    1983) holds a 440305 number. A code retired before the birth year cannot appear.
    """
    return _region_in(region_code, year, until or clock.today().year)


@lru_cache(maxsize=16384)
def _region_in(region_code: str, year: int, until: int) -> str | None:
    fits = [name for start, end, name in _region_periods(region_code)
            if (start is None or start <= until) and (end is None or end >= year)]
    return fits[-1] if fits else None


_BIRTH_MEMO: dict[str, date | None] = {}  # "YYYYMMDD" -> date (None if impossible); no person in it


def _birth(digits: str) -> date | None:
    got = _BIRTH_MEMO.get(digits, _BIRTH_MEMO)
    if got is _BIRTH_MEMO:
        try:
            got = date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
        except ValueError:
            got = None
        if len(_BIRTH_MEMO) >= 50_000:
            _BIRTH_MEMO.clear()
        _BIRTH_MEMO[digits] = got
    return got  # type: ignore[return-value]


def check(value: str, today: date | None = None) -> IdFacts:
    """Validate and return the derived facts, or raise :class:`InvalidIdNumber`."""
    number, born, region_name = _checked(value, today)
    return IdFacts(
        number=number,
        birth_date=born,
        gender="M" if int(number[16]) % 2 == 1 else "F",
        region_code=number[:6],
        region_name=region_name,
    )


def facts_of(number: str) -> IdFacts:
    """The facts of a number the platform accepted when it stored it (a subject's, just revealed by
    the vault): read from its digits — birth date (7th-14th), gender (parity of the 17th), region
    (the first six) — without checking it again, so that reading a registered person never fails on
    a rule that moved since (today's date, the region table). The ``subjects`` table keeps none of
    them: beside the encrypted number they were 15 of its 18 digits (docs/architecture.md, "Privacy
    by construction"), so every read derives them here. Raises :class:`InvalidIdNumber` only for
    what is no stored number at all (a wrong length, an impossible date)."""
    if type(number) is not str or len(number) != 18 or not (number.isascii() and number[:17].isdigit()):
        raise InvalidIdNumber("id_length" if type(number) is str and len(number) != 18 else "id_characters")
    born = _birth(number[6:14])
    if born is None:
        raise InvalidIdNumber("id_birth_date")
    return IdFacts(
        number=number,
        birth_date=born,
        gender="M" if int(number[16]) % 2 == 1 else "F",
        region_code=number[:6],
        region_name=_region(number[:6], born.year) or "",
    )


def checked_number(value: str, today: date | None = None) -> str:
    """:func:`check`'s verdict and the normalised number alone, for a bulk path that needs no other
    fact (building :class:`IdFacts` is a third of the check's cost)."""
    return _checked(value, today)[0]


def _checked(value: str, today: date | None) -> tuple[str, date, str]:
    number = value.strip().upper() if type(value) is str and value.isascii() else normalise(value)
    if not number:
        raise InvalidIdNumber("id_missing")
    if len(number) != 18:
        raise InvalidIdNumber("id_length")
    # ASCII first: then isdigit() means 0-9 only (not full-width or other scripts' digits)
    if not (number.isascii() and number[:17].isdigit() and number[17] in _CHECK_CHARS):
        raise InvalidIdNumber("id_characters")
    born = _birth(number[6:14])
    if today is None:
        today = clock.today()
    if born is None or born < _EARLIEST_BIRTH or born > today:
        raise InvalidIdNumber("id_birth_date")
    region_name = _region_in(number[:6], born.year, today.year)
    if region_name is None:
        raise InvalidIdNumber("id_region")
    if number[17] != _CHECK_CHARS[(1 - 2 * int(number[:17], 13)) % 11]:  # ric.calc_check_digit, inlined
        raise InvalidIdNumber("id_checksum")
    return number, born, region_name


def is_valid(value: str) -> bool:
    try:
        check(value)
    except InvalidIdNumber:
        return False
    return True


def make_id_number(region_code: str, birth: date, sequence: int) -> str:
    """Build a valid ID number (demo and test data). ``sequence`` is 0..999; odd = male."""
    body = f"{region_code}{birth:%Y%m%d}{sequence % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")
