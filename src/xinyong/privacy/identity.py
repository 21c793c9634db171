"""Resident ID numbers (GB 11643-1999): validation with reasons, derived facts, normalisation.

Validation uses python-stdnum's ``stdnum.cn.ric`` step by step, so that a refusal can say which
part is wrong: length or characters, birth date, region code, or the check character.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from stdnum.cn import ric
from stdnum.exceptions import InvalidComponent

# stdnum's ric.validate() does the same checks in one call; we run them step by step (birth date
# parsed here, region via ric.get_birth_place, check digit via ric.calc_check_digit) to say which
# part is wrong and to avoid its per-call clean-up on the bulk path.

_SHAPE = re.compile(r"^[0-9]{17}[0-9X]$")
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


@dataclass(frozen=True, slots=True)
class IdFacts:
    number: str = field(repr=False)  # normalised (upper-case X); never printed
    birth_date: date
    gender: str  # "M" | "F"
    region_code: str
    region_name: str


def normalise(value: str) -> str:
    return value.strip().upper() if isinstance(value, str) else ""


@lru_cache(maxsize=8192)
def _region(region_code: str, year: int) -> str | None:
    probe = region_code + f"{year:04d}0101" + "0000"
    try:
        info = ric.get_birth_place(probe)
    except (InvalidComponent, KeyError, ValueError):
        # python-stdnum raises KeyError for prefixes known only above county level (e.g. 110001)
        return None
    return "".join(info.get(k, "") for k in ("province", "prefecture", "county")) or region_code


def check(value: str, today: date | None = None) -> IdFacts:
    """Validate and return the derived facts, or raise :class:`InvalidIdNumber`."""
    number = normalise(value)
    if not number:
        raise InvalidIdNumber("id_missing")
    if len(number) != 18:
        raise InvalidIdNumber("id_length")
    if not _SHAPE.match(number):
        raise InvalidIdNumber("id_characters")
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError as exc:
        raise InvalidIdNumber("id_birth_date") from exc
    if born < _EARLIEST_BIRTH or born > (today or date.today()):
        raise InvalidIdNumber("id_birth_date")
    region_name = _region(number[:6], born.year)
    if region_name is None:
        raise InvalidIdNumber("id_region")
    if number[-1] != ric.calc_check_digit(number):
        raise InvalidIdNumber("id_checksum")
    return IdFacts(
        number=number,
        birth_date=born,
        gender="M" if int(number[16]) % 2 == 1 else "F",
        region_code=number[:6],
        region_name=region_name,
    )


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
