"""An ID number with invisible format characters inside (zero-width space, byte-order mark,
bidirectional marks: Unicode Cf, copied along from a web page or a chat) is the same number to the
platform — ``identity.normalise`` drops them, and the records API accepts such a number as the
person's — so it is found and masked as one, wherever an ID number is looked for: text kept in
records, audit details, log lines, and the query-string guard. It passed all of them: the access
log kept ``?x=120101%E2%80%8B19720810…`` and a ``source_id`` holding it was stored as sent.
"""

from __future__ import annotations

import logging
import unicodedata
from datetime import date
from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st

from xinyong import clock
from xinyong.app import id_number_in
from xinyong.audit.service import _scrub_details
from xinyong.logging_setup import SafeFormatter
from xinyong.privacy import identity
from xinyong.privacy.identity import make_id_number
from xinyong.privacy.masking import (
    contains_id_number,
    mask_id_numbers_in,
    mask_quoted_id_numbers,
    may_hold_id_number,
)

FORMAT_CHARS = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u200e", "\u200f", "\u202a", "\u202c", "\u00ad"]
assert all(unicodedata.category(c) == "Cf" for c in FORMAT_CHARS)


@st.composite
def hidden_numbers(draw: st.DrawFn) -> tuple[str, str]:
    """(the number, the number with format characters put between some of its characters)."""
    number = make_id_number(draw(st.sampled_from(["120101", "110105", "310104"])),
                            draw(st.dates(date(1930, 1, 1), clock.today())), draw(st.integers(0, 999)))
    gaps = draw(st.lists(st.integers(1, 17), min_size=1, max_size=4))
    chars = list(number)
    for gap in sorted(set(gaps), reverse=True):
        chars.insert(gap, draw(st.sampled_from(FORMAT_CHARS)))
    return number, "".join(chars)


def _visible(text: str) -> str:
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


@settings(max_examples=150, deadline=None)
@given(hidden_numbers(), st.sampled_from(["", "证件 ", "sfz", "（", "李四 ", "说明：\n", "a\tb "]),
       st.sampled_from(["", " 号", "）", "x", "\n罚款2000元", "\r\n"]))  # line breaks: text not printable
def test_a_number_with_format_characters_inside_is_found_and_masked(hidden, before, after):
    number, typed = hidden
    assert identity.normalise(typed) == number  # the platform's own reading: the same person
    text = before + typed + after
    assert contains_id_number(text) and may_hold_id_number(text)
    for masked in (mask_id_numbers_in(text), mask_quoted_id_numbers(text)):
        shown = _visible(masked)
        assert number not in shown and number[6:14] not in shown and "*" * 8 in shown
        assert len(masked) == len(text) and masked.startswith(before)
    # kept text: the birth date's eight digits masked where they were, all else as typed
    kept = mask_quoted_id_numbers(text)
    assert [c for c in kept if c not in "*"] == [c for c, k in zip(text, kept, strict=True) if k != "*"]
    assert kept.endswith(after) and _visible(kept).startswith(before + number[:6])


def test_text_without_them_is_left_as_it_was():
    for text in ("区市场监管局\u200b处罚决定", "第\u200b12号，罚款2000元", "line\nbreak 123456789012345678",
                 "1201011972081\u200b09516"):  # (an 18-digit run with a wrong check digit)
        assert mask_quoted_id_numbers(text) == text and not contains_id_number(text)


@settings(max_examples=50, deadline=None)
@given(hidden_numbers())
def test_the_query_string_guard_and_the_log_see_it(hidden):
    number, typed = hidden
    query = "x=" + quote(typed)
    assert id_number_in(query.encode())
    line = SafeFormatter("%(message)s").format(logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '"GET /api/v1/catalog/items?%s HTTP/1.1" 200', (query,), None))
    from urllib.parse import unquote

    assert number[6:14] not in _visible(unquote(line))


@settings(max_examples=50, deadline=None)
@given(hidden_numbers())
def test_an_audit_entrys_details_are_scrubbed_of_it(hidden):
    number, typed = hidden
    details = _scrub_details({"source_id": f"S-{typed}", "rows": 3})
    assert number[6:14] not in _visible(str(details))


def test_every_format_character_is_searched_for() -> None:
    """The character class that finds text which may hold a format character holds every Cf character
    of the unicodedata this Python ships; in the BMP, nothing else."""
    import sys

    from xinyong.privacy.masking import _MAY_BE_FORMAT

    for cp in range(sys.maxunicode + 1):
        c = chr(cp)
        if unicodedata.category(c) == "Cf":
            assert _MAY_BE_FORMAT.match(c), f"U+{cp:04X}"
        elif cp <= 0xFFFF:
            assert not _MAY_BE_FORMAT.match(c), f"U+{cp:04X}"


def test_ordinary_text_with_line_breaks_is_not_read_character_by_character(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Free text on the ingest path (a text field of 18 characters or more is masked) is mostly
    printable; Chinese text with a line break or an ideographic space (U+3000) is not, and holds no
    format character: it is searched for one at once, not asked about character by character (which
    cost 8 to 14 times the masking of the same text without them). Masked as before."""
    from xinyong.privacy import masking

    asked: list[str] = []
    real = unicodedata.category
    monkeypatch.setattr(masking.unicodedata, "category", lambda c: asked.append(c) or real(c))
    n = make_id_number("120101", date(1972, 8, 10), 123)
    for text in ("天津市和平区市场监督管理局\n行政处罚决定书", "当事人　张三，身份证号码" + n + "\n违法事实如下",
                 "１２３４５６７８９０１２３４５６７８\u3000备注"):
        assert may_hold_id_number(text) is (n in text or "１２" in text) and not contains_id_number(text[-8:])
        assert n not in mask_quoted_id_numbers(text) and n not in mask_id_numbers_in(text)
    assert asked == []
    assert mask_quoted_id_numbers("号码" + n[:6] + "\u200b" + n[6:] + "\n") == "号码" + n[:6] + "\u200b********" + n[14:] + "\n"
