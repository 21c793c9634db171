"""Resident ID numbers: validation with a reason code, derived facts, fuzzing."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from xinyong import clock
from xinyong.privacy import identity
from xinyong.privacy.identity import InvalidIdNumber, check, is_valid, make_id_number, normalise

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def checksum(body17: str) -> str:
    """GB 11643-1999 check character, computed independently of the code under test."""
    return "10X98765432"[sum(int(d) * w for d, w in zip(body17, _WEIGHTS, strict=True)) % 11]


def build(region: str, born: str, seq: str) -> str:
    body = region + born + seq
    return body + checksum(body)


VALID = [
    # (number, birth date, gender, region code, region name contains)
    ("11010519491231002X", date(1949, 12, 31), "F", "110105", "朝阳"),  # the standard's own example
    (build("120101", "19850309", "123"), date(1985, 3, 9), "M", "120101", "和平"),
    (build("310104", "20000229", "046"), date(2000, 2, 29), "F", "310104", "徐汇"),
    (build("440305", "19920704", "517"), date(1992, 7, 4), "M", "440305", "南山"),
]


@pytest.mark.parametrize(("number", "born", "gender", "region", "region_name"), VALID)
def test_valid_numbers_are_accepted_with_their_facts(number, born, gender, region, region_name):
    facts = check(number)
    assert facts.number == number
    assert facts.birth_date == born
    assert facts.gender == gender
    assert facts.region_code == region
    assert region_name in facts.region_name
    assert is_valid(number)


def test_check_character_x_is_found_for_some_number_and_accepted():
    number = next(build("120101", "19800101", f"{i:03d}") for i in range(1000)
                  if checksum("12010119800101" + f"{i:03d}") == "X")
    assert number.endswith("X")
    assert check(number).number == number
    assert check(number.lower()).number == number  # lower-case x is the same number
    assert check(f"  {number.lower()} ").number == number


def test_gender_is_the_parity_of_the_17th_digit():
    for seq, gender in (("001", "M"), ("002", "F"), ("119", "M"), ("998", "F")):
        assert check(build("120101", "19700515", seq)).gender == gender


def test_facts_do_not_print_the_number():
    number = VALID[1][0]
    assert number not in repr(check(number))


def _refusal(value: str, today: date | None = None) -> str:
    with pytest.raises(InvalidIdNumber) as info:
        check(value, today=today)
    # the error never carries the number itself
    assert value.strip() not in str(info.value) or not value.strip()
    return info.value.code


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("", "id_missing"),
        ("   ", "id_missing"),
        ("12010119850309123", "id_length"),  # 17
        ("1201011985030912345", "id_length"),  # 19
        ("120101198503091", "id_length"),  # first-generation length is refused too
        ("12010119850309123A", "id_characters"),
        ("1201011985O3091234", "id_characters"),  # letter O for zero
        ("X20101198503091234", "id_characters"),
        ("١٢٠١٠١١٩٨٥٠٣٠٩١٢٣٤", "id_characters"),  # another script's digits (isdigit() says yes)
        # a valid number in superscript or mathematical bold digits (NFKC folds them to ASCII)
        (build("120101", "19850309", "123").translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")), "id_characters"),
        ("".join(chr(0x1D7CE + int(c)) for c in build("120101", "19850309", "123")), "id_characters"),
        (build("120101", "19850230", "123"), "id_birth_date"),  # Feb 30
        (build("120101", "19850001", "123"), "id_birth_date"),  # month 0
        (build("120101", "18000101", "123"), "id_birth_date"),  # year 1800
        (build("120101", "18991231", "123"), "id_birth_date"),
        (build("120101", "20230229", "123"), "id_birth_date"),  # not a leap year
        (build("999999", "19850309", "123"), "id_region"),
        (build("110001", "19850309", "123"), "id_region"),  # a prefix that is no county
        (build("000000", "19850309", "123"), "id_region"),
        (build("110110", "19900101", "123"), "id_region"),  # 燕山区, code retired in 1986
        (build("130103", "20160101", "123"), "id_region"),  # 桥东区 (石家庄), retired in 2014
    ],
)
def test_refusals_name_the_reason(value, code):
    assert _refusal(value) == code


@pytest.mark.parametrize(("region", "born", "name"), [
    ("440305", "19700101", "南山区"),  # code in use from 1983; people born earlier hold it too
    ("440305", "19830101", "南山区"),
    ("110110", "19800101", "燕山区"),  # born while the (since retired) code was in use
    ("130103", "20100101", "桥东区"),
])
def test_region_is_the_code_at_issuance_not_at_birth(region, born, name):
    facts = check(build(region, born, "123"))
    assert facts.region_code == region
    assert name in facts.region_name


def test_future_birth_date_is_refused():
    tomorrow = clock.today() + timedelta(days=1)
    assert _refusal(build("120101", f"{tomorrow:%Y%m%d}", "123")) == "id_birth_date"
    # and relative to an explicit "today"
    assert _refusal(build("120101", "20200102", "123"), today=date(2020, 1, 1)) == "id_birth_date"
    assert check(build("120101", "20200101", "123"), today=date(2020, 1, 1)).birth_date == date(2020, 1, 1)


def test_wrong_check_character_is_refused():
    good = VALID[1][0]
    for c in "0123456789X":
        if c != good[-1]:
            assert _refusal(good[:-1] + c) == "id_checksum"


def test_errors_are_bilingual_and_stable():
    err = InvalidIdNumber("id_checksum")
    assert err.code == "id_checksum"
    assert "校验" in err.message_zh and "check" in err.message_en
    assert err.message == f"{err.message_zh} / {err.message_en}"


def test_normalise():
    assert normalise(" 11010519491231002x\n") == "11010519491231002X"
    assert normalise(None) == ""  # type: ignore[arg-type]


def test_make_id_number_builds_valid_numbers():
    n = make_id_number("310104", date(1977, 11, 30), 7)
    assert n == build("310104", "19771130", "007")
    assert check(n).gender == "M"


# ---- fuzzing ---------------------------------------------------------------------------

@st.composite
def id_shaped(draw: st.DrawFn) -> str:
    """Mostly well-shaped candidates, so every branch (date, region, checksum) is reached."""
    region = draw(st.sampled_from(["120101", "110105", "310104", "440305", "999999", "110001", "000000"])
                  | st.from_regex(r"\A[0-9]{6}\Z"))
    if draw(st.booleans()):
        born = draw(st.dates(date(1890, 1, 1), clock.today() + timedelta(days=400)))
        year, month, day = born.year, born.month, born.day
    else:
        year, month, day = draw(st.integers(0, 9999)), draw(st.integers(0, 13)), draw(st.integers(0, 32))
    seq = draw(st.integers(0, 999))
    body = f"{region}{year:04d}{month:02d}{day:02d}{seq:03d}"
    last = draw(st.sampled_from([checksum(body), "X", "x", "0", "5"]))
    return body + last


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40) | id_shaped() | st.from_regex(r"\A[0-9Xx ]{15,20}\Z"))
def test_check_raises_only_invalid_id_number(value):
    try:
        facts = check(value)
    except InvalidIdNumber as exc:
        assert exc.code in identity.ID_ERRORS
        return
    # anything accepted really is a valid number
    assert len(facts.number) == 18
    assert facts.number[-1] == checksum(facts.number[:17])
    assert date(1900, 1, 1) <= facts.birth_date <= clock.today()
    assert facts.gender == ("M" if int(facts.number[16]) % 2 else "F")


def _reference(value: str, today: date) -> identity.IdFacts | str:
    """The former implementation, step by step over python-stdnum (shape by regular expression,
    birth date by ``ric.get_birth_date``, check character by ``ric.calc_check_digit``) plus our
    rules: the reference the inlined fast path must match exactly. Returns the facts or the code."""
    number = normalise(value)
    if not number:
        return "id_missing"
    if len(number) != 18:
        return "id_length"
    if not re.match(r"^[0-9]{17}[0-9X]$", number):
        return "id_characters"
    try:
        born = ric.get_birth_date(number)
    except ValidationError:
        return "id_birth_date"
    if not date(1900, 1, 1) <= born <= today:
        return "id_birth_date"
    region = identity._region(number[:6], born.year, today.year)
    if region is None:
        return "id_region"
    if number[-1] != ric.calc_check_digit(number):
        return "id_checksum"
    return identity.IdFacts(number=number, birth_date=born, gender="M" if int(number[16]) % 2 else "F",
                            region_code=number[:6], region_name=region)


@settings(max_examples=1500, deadline=None)
@given(st.text(max_size=40) | id_shaped() | st.from_regex(r"\A[0-9Xx ]{15,20}\Z")
       | id_shaped().map(lambda s: s[:5] + "\uff11" + s[6:]),  # a full-width digit inside
       st.dates(date(1990, 1, 1), date(2040, 12, 31)))
def test_check_agrees_with_the_stdnum_reference(value, today):
    want = _reference(value, today)
    try:
        got: identity.IdFacts | str = check(value, today=today)
    except InvalidIdNumber as exc:
        got = exc.code
    assert got == want


def test_facts_never_show_the_number():
    number = make_id_number("110101", date(1990, 5, 17), 123)
    facts = check(number)
    assert number not in repr(facts) and number not in str(facts) and number not in f"{facts}"
    assert facts.number == number and facts.region_code == "110101"
    with pytest.raises(AttributeError):
        facts.number = "x"  # type: ignore[misc]


def test_full_width_digits_are_the_same_number():
    """Typed with a Chinese input method in full-width mode (１２０１…ｘ): the same number, the same
    person (blind index included), not a refusal."""
    number = make_id_number("120101", date(1985, 3, 9), 123)
    wide = "".join(chr(ord(c) + 0xFEE0) for c in number.lower())
    assert check(f"\u3000{wide}").number == number
    assert normalise(wide) == number


@pytest.mark.parametrize("mark", ["\u200b", "\ufeff", "\u200e", "\u2060", "\u00ad"])
def test_invisible_format_characters_copied_along_are_not_part_of_the_number(mark):
    """Copied from a web page or a chat, a number brings zero-width spaces, a byte-order mark or
    bidirectional marks that no spreadsheet shows: the same number, not "must have 18 characters"."""
    number = make_id_number("120101", date(1985, 3, 9), 123)
    for value in (mark + number, number[:6] + mark + number[6:], number + mark, f"{mark}{number[:9]}{mark}{number[9:]}"):
        assert normalise(value) == number
        assert check(value).number == number
    assert normalise(f"{mark}１２０１") == "1201"  # full-width and invisible together


@pytest.mark.parametrize(("number", "born", "gender", "region", "region_name"), VALID)
def test_facts_of_a_stored_number_are_those_check_gives(number, born, gender, region, region_name):
    assert identity.facts_of(number) == check(number)
    facts = identity.facts_of(number)
    assert (facts.birth_date, facts.gender, facts.region_code) == (born, gender, region)
    assert region_name in facts.region_name


def test_facts_of_a_stored_number_read_it_without_checking_rules_again():
    """A number accepted when stored is read from its digits, whatever moved since: a region code retired
    before the birth year, or even its check character, fail no read (``check`` refuses both)."""
    retired = build("110110", "19900101", "124")  # 燕山区, retired in 1986: no name for a 1990 birth
    assert _refusal(retired) == "id_region"
    facts = identity.facts_of(retired)
    assert (facts.birth_date, facts.gender, facts.region_code, facts.region_name) == (date(1990, 1, 1), "F", "110110", "")
    good = VALID[1][0]
    wrong_check = good[:-1] + ("1" if good[-1] != "1" else "2")
    assert identity.facts_of(wrong_check).birth_date == date(1985, 3, 9)
    assert identity.facts_of(wrong_check).gender == "M"


@pytest.mark.parametrize(("value", "code"), [
    ("12010119850309123", "id_length"), ("1201011985030912345", "id_length"), ("", "id_length"),
    ("1201011985O3091234", "id_characters"), (None, "id_characters"),
    (120101198503091234, "id_characters"), ("１２０１０１１９８５０３０９１２３４", "id_characters"),
    (build("120101", "19850230", "123"), "id_birth_date"), (build("120101", "19851301", "123"), "id_birth_date"),
])
def test_facts_of_what_is_no_stored_number_is_refused(value, code):
    with pytest.raises(InvalidIdNumber) as info:
        identity.facts_of(value)
    assert info.value.code == code


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40) | id_shaped())
def test_checked_number_is_checks_verdict_and_number(value):
    try:
        want: str = check(value).number
    except InvalidIdNumber as exc:
        want = exc.code
    try:
        got = identity.checked_number(value)
    except InvalidIdNumber as exc:
        got = exc.code
    assert got == want


def test_is_valid_says_no_for_every_refusal_and_yes_from_the_first_day_of_1900():
    assert is_valid(build("120101", "19000101", "123"))  # the earliest birth date accepted
    assert check(build("120101", "19000101", "123")).birth_date == date(1900, 1, 1)
    good = VALID[1][0]
    for bad in ("", "12010119850309123", good[:-1] + ("0" if good[-1] != "0" else "1"),
                build("120101", "18991231", "123"), build("999999", "19850309", "123"), None, 12):
        assert is_valid(bad) is False  # type: ignore[arg-type]


def test_a_region_code_counts_in_the_years_it_begins_and_ends():
    """A code is usable in every year of its period, the first and the last included: 440305 (in use
    from 1983) issued in 1983, and 110110 (燕山区, retired in 1986) held by someone born in 1986."""
    early = build("440305", "19700101", "123")
    assert "南头" in check(early, today=date(1983, 6, 1)).region_name
    assert _refusal(early, today=date(1982, 12, 31)) == "id_region"
    assert "燕山" in check(build("110110", "19861231", "123")).region_name
    assert _refusal(build("110110", "19870101", "123")) == "id_region"


def test_make_id_number_keeps_every_sequence_from_0_to_999():
    for seq in (0, 1, 998, 999):
        n = make_id_number("120101", date(1985, 3, 9), seq)
        assert n[14:17] == f"{seq:03d}" and check(n).number == n


@pytest.mark.parametrize("letter", ["A", "C", "X", "Z", "x"])
def test_a_letter_as_the_17th_character_is_refused_as_characters(letter):
    """Only the 18th character may be X: a letter in the 17th place (the sequence's last digit, whose
    parity is the gender) is no ID number, whatever the check character."""
    body = "1201011985030912" + letter
    for last in "0123456789X":
        assert _refusal(body + last) == "id_characters"
        with pytest.raises(InvalidIdNumber) as info:
            identity.facts_of(body.upper() + last)
        assert info.value.code == "id_characters"
