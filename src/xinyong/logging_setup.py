"""Logging that cannot be forged or leak: control characters are escaped and ID-number-shaped
values masked in every record, whatever the caller passed."""

from __future__ import annotations

import logging
import re
from urllib.parse import quote_plus, unquote_plus

from xinyong.privacy.masking import contains_id_number, mask_id_numbers_in

# C0 controls, DEL, C1 controls (U+0085 NEL is a line break to many readers) and the Unicode line
# and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escape(m: re.Match[str]) -> str:
    c = ord(m.group(0))
    return f"\\x{c:02x}" if c < 256 else f"\\u{c:04x}"


# An API key's secret (xinyong.auth.service: xy_<12 hex prefix>_<secret>): a client that put its key
# in a URL (?api_key=…) must not leave it in the access log. The prefix, which names the key
# without opening anything, is kept.
_API_KEY = re.compile(r"\b(xy_[0-9a-f]{12}_)[A-Za-z0-9_\-]{8,}")


# A percent-encoded stretch of a URL (the access log quotes the query string as it was sent): an ID
# number in it (%31%32…, or full-width digits, which a URL always carries encoded) is masked too.
# One run of URL characters, taken whole (its alternatives never overlap, so matching is linear: a
# pattern requiring a %XX inside the run backtracked over every start, 16 KB of letters and a '%'
# took seconds per log line); a run without an escape is left to ``mask_id_numbers_in``.
_ENCODED = re.compile(r"(?:%[0-9A-Fa-f]{2}|[0-9A-Za-z_.~+\-])+")


def _mask_encoded(m: re.Match[str]) -> str:
    run = m.group(0)
    if "%" not in run:
        return run
    plain = unquote_plus(run)
    return quote_plus(mask_id_numbers_in(plain), safe="*") if contains_id_number(plain) else run


def sanitize(text: str) -> str:
    """Mask ID numbers (percent-encoded ones too) and API keys' secrets, and escape control
    characters, so one value stays on one line."""
    if "xy_" in text:
        text = _API_KEY.sub(r"\1***", text)
    if "%" in text:
        text = _ENCODED.sub(_mask_encoded, text)
    return _CONTROL.sub(_escape, mask_id_numbers_in(text))


class SafeFormatter(logging.Formatter):
    """The record's line (message and all) is sanitised as a whole: a CR/LF inside a message is
    escaped, never a new line. A traceback or stack that follows keeps its line breaks, each of its
    lines prefixed with ``    | `` so that it cannot pass for a record of its own."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        out = sanitize(self.formatMessage(record))
        blocks = []
        if record.exc_info:
            blocks.append(self.formatException(record.exc_info))  # not the cached exc_text: ours only
        elif record.exc_text:
            blocks.append(record.exc_text)
        if record.stack_info:
            blocks.append(self.formatStack(record.stack_info))
        for block in blocks:
            out += "\n" + "\n".join("    | " + sanitize(line) for line in block.splitlines())
        return out


class SafeFilter(logging.Filter):
    """For handlers we don't own (uvicorn's access log): sanitise the rendered message."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.msg = sanitize(record.getMessage())
            record.args = ()
        except Exception:  # noqa: BLE001, S110 - never lose a log line over this
            pass
        return True


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
        lg.addFilter(SafeFilter())
