"""Masking for display."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xinyong import clock
from xinyong.privacy.identity import make_id_number
from xinyong.privacy.masking import mask_id_number, mask_name


def test_valid_number_keeps_region_and_last_four():
    assert mask_id_number("11010519491231002X") == "110105********002X"
    assert mask_id_number("11010519491231002x") == "110105********002X"
    assert mask_id_number(" 120101198503091234 ") == "120101********1234"


@pytest.mark.parametrize("value", ["", "123", "12010119850309123", "1201011985030912345", None, 12345])
def test_odd_values_are_masked_entirely(value):
    out = mask_id_number(value)  # type: ignore[arg-type]
    assert set(out) == {"*"}
    assert len(out) >= 4


def test_a_huge_odd_value_is_masked_in_a_few_stars():
    """A comparison file's 20 MB cell where the ID number belongs was echoed as 20 MB of stars."""
    assert mask_id_number("1" * 20_000_000) == "*" * 32


def test_first_generation_number():
    assert mask_id_number("120101850309123") == "120101******123"


@pytest.mark.parametrize(
    ("name", "masked"),
    [("张三", "张*"), ("张三丰", "张**"), ("欧阳娜娜", "欧阳**"), ("司马光", "司马*"), ("王", "*"),
     ("欧阳", "欧*"), ("  李四 ", "李*"), ("", ""), ("Alice", "A****")],
)
def test_names(name, masked):
    assert mask_name(name) == masked


def test_non_string_name():
    assert mask_name(None) == "*"  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30) | st.from_regex(r"\A[0-9X]{18}\Z"))
def test_mask_id_number_never_raises_nor_keeps_the_middle(value):
    out = mask_id_number(value)
    assert isinstance(out, str) and out
    if len(value) == 18 and value[6:14] != "*" * 8:
        assert out[6:14] != value[6:14]
        assert value[6:14] not in out


@settings(max_examples=100, deadline=None)
@given(st.dates(date(1900, 1, 1), clock.today()), st.integers(0, 999), st.sampled_from(["120101", "110105", "310104", "440305"]))
def test_valid_numbers_mask_to_the_pattern(born, seq, region):
    number = make_id_number(region, born, seq)
    out = mask_id_number(number)
    assert out == number[:6] + "********" + number[-4:]
    assert number[6:14] not in out


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_mask_name_never_raises_and_hides_the_given_name(value):
    out = mask_name(value)
    s = value.strip()
    assert len(out) == len(s)
    if len(s) >= 2:
        assert out[-1] == "*"
        assert out.count("*") >= len(s) - 2
    if len(s) == 1:
        assert out == "*"


def test_full_width_id_numbers_in_text_are_masked_too():
    """An ID number typed in full-width digits (a Chinese input method in full-width mode) is the
    same number to identity.normalise, so free text (logs, audit entries, errors) masks it too."""
    from xinyong.privacy.masking import contains_id_number, mask_id_numbers_in

    number = make_id_number("120101", date(1985, 3, 9), 123)
    wide = "".join(chr(ord(c) + 0xFEE0) for c in number)
    for text in (wide, f"用户 {wide}", f"sfz{wide}", f"{number[:9]}{wide[9:]}"):
        masked = mask_id_numbers_in(text)
        assert contains_id_number(text)
        assert wide[6:14] not in masked and "********" in masked
    assert mask_id_numbers_in("１" * 17 + "ｘ") == "１" * 6 + "*" * 8 + "１１１Ｘ"  # shaped like one: masked


def test_an_id_number_quoted_in_kept_text_is_masked_in_place():
    """A record's text quoting an ID number keeps everything but the birth date's eight digits, which
    become eight stars in place: the text around it, region and last four stay as written."""
    from xinyong.privacy.masking import mask_quoted_id_numbers

    n = make_id_number("120101", date(1985, 3, 9), 123)
    m = make_id_number("110105", date(1949, 12, 31), 2)
    assert mask_quoted_id_numbers(f"当事人{n}，") == f"当事人{n[:6]}********{n[14:]}，"
    assert mask_quoted_id_numbers(f"{n}与{m}") == f"{n[:6]}********{n[14:]}与{m[:6]}********{m[14:]}"
    assert mask_quoted_id_numbers(f"sfz{n}") == f"sfz{n[:6]}********{n[14:]}"


def test_a_records_fields_are_shown_with_their_quoted_id_numbers_masked():
    """Fields stored before ingestion masked them: every text value quoting a valid ID number is shown
    masked; other values (numbers, short texts, a decision number of 18 digits that is no ID number)
    as they are."""
    from xinyong.privacy.masking import mask_id_numbers_in_values

    n = make_id_number("120101", date(1985, 3, 9), 123)
    decision = "120101202603020001"  # region, a date, a serial: no valid check character for it here
    values = {"basis": f"当事人{n}", "amount": 2000, "flag": True, "short": "罚款", "decision_no": decision,
              "exact": n, "none": None}
    shown = mask_id_numbers_in_values(values)
    assert shown == {**values, "basis": f"当事人{n[:6]}********{n[14:]}", "exact": f"{n[:6]}********{n[14:]}"}
    assert values["basis"] == f"当事人{n}"  # the record's own values are left alone
