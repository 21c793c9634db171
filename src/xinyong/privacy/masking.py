"""Masking for display: ``120101********123X`` and ``张*`` / ``欧阳**``."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from xinyong.privacy import identity

# Two-character compound surnames (复姓) keep both characters.
COMPOUND_SURNAMES = frozenset(
    ["欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒", "令狐", "夏侯", "轩辕", "端木", "独孤", "南宫", "西门", "百里", "呼延", "闻人", "申屠", "太史", "澹台", "公冶", "宗政", "濮阳", "单于", "钟离", "万俟", "赫连", "淳于", "仲孙", "东郭", "拓跋", "羊舌", "第五"]
)


def mask_id_number(value: str) -> str:
    """Keep the 6-digit region code and the last 4 characters; mask the rest.

    Any input is accepted; short or odd values are masked entirely rather than leaked (at most 32
    stars).
    """
    if not isinstance(value, str):
        return "*" * 4
    s = value.strip().upper()
    if len(s) == 18:
        return s[:6] + "*" * 8 + s[-4:]
    if len(s) == 15:  # first-generation ID card
        return s[:6] + "*" * 6 + s[-3:]
    return "*" * min(max(len(s), 4), 32)  # (a 20 MB cell is not echoed as 20 MB of stars)


def mask_name(value: str) -> str:
    """Show the surname, mask the given name: ``张*``, ``欧阳**``, ``王**``.

    A one-character name becomes ``*``; Latin names show only the first letter.
    """
    if not isinstance(value, str):
        return "*"
    s = value.strip()
    if not s:
        return ""
    if len(s) == 1:
        return "*"
    keep = 2 if s[:2] in COMPOUND_SURNAMES and len(s) > 2 else 1
    return s[:keep] + "*" * (len(s) - keep)


# Digits as ASCII or full-width (１２０１…: a Chinese input method in full-width mode), which
# identity.normalise reads as the same number, so they are masked as one.
_D = "0-9\uff10-\uff19"
_X = "Xx\uff38\uff58"
_W = "A-Za-z\uff21-\uff3a\uff41-\uff5a"
# An ID-number-shaped run standing on its own (not part of a longer word or number) ...
_ID_ALONE = re.compile(rf"(?<![{_D}{_W}])[{_D}]{{17}}[{_D}{_X}](?![{_D}{_W}])")
# ... and any 18-character window inside text, masked only when it is a valid ID number, so
# "sfz120101198503091234" is caught while a hex digest that happens to hold 18 digits is left alone.
_ID_WINDOW = re.compile(rf"(?=([{_D}]{{17}}[{_D}{_X}]))")
_DIGITS_17 = re.compile(rf"[{_D}]{{17}}")
# Where an invisible format character (Unicode Cf) may be: one of the BMP's (unicodedata 14.0's, and
# none was added there since), or any character beyond the BMP (a few Cf there, among the CJK
# extensions' 生僻字: such text is then read character by character, as all of it was). Text that is not
# printable — ordinary Chinese text with a line break or an ideographic space (U+3000) is not — is
# searched for one at the regex engine's speed instead of asking unicodedata about each character,
# which cost 8 to 14 times the rest of the masking on the ingest path's text fields. tests/privacy
# checks it against unicodedata.
_MAY_BE_FORMAT = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U00010000-\U0010ffff]")


def _hidden_digits(text: str) -> tuple[str, list[int]] | None:
    """Text holding invisible format characters (Unicode Cf: zero-width space, byte-order mark,
    bidirectional marks — copied along from a web page or a chat), which ``identity.normalise`` drops
    from an ID number, so that ``120101\u200b19720810…`` is the number to the platform: the text
    without them and, for each of its characters, its position in ``text``; None when there are none
    or they hide no 17 digits. Costs one call for the common text (ASCII, or printable: no Cf
    character is printable), one regex search for text with a line break or a wide space."""
    if text.isascii() or text.isprintable() or _MAY_BE_FORMAT.search(text) is None:
        return None
    keep = [i for i, c in enumerate(text) if unicodedata.category(c) != "Cf"]
    if len(keep) == len(text):
        return None
    visible = "".join(text[i] for i in keep)
    return (visible, keep) if _DIGITS_17.search(visible) else None


def may_hold_id_number(text: str) -> bool:
    """Whether ``text`` holds 17 digits in a row (ASCII or full-width) anywhere, format characters
    between them not counting: the cheap test before any masking — without them there is no ID
    number, valid or not, to mask."""
    return _DIGITS_17.search(text) is not None or _hidden_digits(text) is not None


def page_without_id_numbers(path: str, query: str = "") -> str:
    """A page's path and query to send a browser back to (the language links, ``/reauth?next=``,
    ``/login?next=``), less anything of an ID number's shape (:func:`may_hold_id_number`: 17 digits
    in a row, valid or not — the app refuses a valid one in a query string, an invalid one would go
    on into the next request's URL and its logs): a path holding one is the home page, a query
    parameter holding one (name or value) is dropped, the others kept."""
    from urllib.parse import parse_qsl, urlencode

    if may_hold_id_number(path):
        return "/"
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True)
            if not (may_hold_id_number(k) or may_hold_id_number(v))]
    return path + (f"?{urlencode(kept)}" if kept else "")


def _valid_starts(text: str) -> list[int]:
    return [m.start() for m in _ID_WINDOW.finditer(text) if identity.is_valid(m.group(1))]


def contains_id_number(text: str) -> bool:
    """Whether free text holds a valid ID number anywhere (the windows :func:`mask_id_numbers_in`
    masks as valid ones), format characters inside it or not."""
    if _DIGITS_17.search(text) and _valid_starts(text):
        return True
    hidden = _hidden_digits(text)
    return hidden is not None and bool(_valid_starts(hidden[0]))


def mask_id_numbers_in(text: str) -> str:
    """Mask every ID number inside free text (logs, audit details) as ``120101********1234``."""
    if not _DIGITS_17.search(text):
        return text if text.isascii() else _mask_hidden(text)
    return mask_quoted_id_numbers(_ID_ALONE.sub(lambda m: mask_id_number(m.group(0)), text))


def mask_quoted_id_numbers(text: str) -> str:
    """Kept text (a record's text fields): the valid ID numbers quoted in it masked, and nothing else.
    Not every 18-digit run, as :func:`mask_id_numbers_in` masks them in logs: a decision number
    (region, date, serial) or a unified social credit code written in 18 digits is the record's
    content, and would be lost irreversibly once stored masked."""
    if not _DIGITS_17.search(text):
        return text if text.isascii() else _mask_hidden(text)
    starts = _valid_starts(text)
    if not starts:
        return _mask_hidden(text)
    chars = list(text)
    for start in starts:
        chars[start + 6:start + 14] = "*" * 8
    return _mask_hidden("".join(chars))


def _mask_hidden(text: str) -> str:
    """The valid ID numbers with format characters inside masked as the others are (their birth
    date's eight digits; the format characters stay where they were)."""
    hidden = _hidden_digits(text)
    if hidden is None:
        return text
    visible, keep = hidden
    starts = _valid_starts(visible)
    if not starts:
        return text
    chars = list(text)
    for start in starts:
        for j in range(start + 6, start + 14):
            chars[keep[j]] = "*"
    return "".join(chars)


def mask_id_numbers_in_values(values: dict[str, Any]) -> dict[str, Any]:
    """A record's fields as shown: every text value through :func:`mask_quoted_id_numbers` (ingestion
    masks them before they are stored; this covers what was stored before it did)."""
    return {k: mask_quoted_id_numbers(v) if type(v) is str and len(v) >= 18 else v for k, v in values.items()}
