"""Logging that cannot be forged or leak: control characters are escaped and ID-number-shaped
values masked in every record, whatever the caller passed."""

from __future__ import annotations

import logging
import re

from xinyong.privacy.masking import mask_id_number

_ID_LIKE = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def sanitize(text: str) -> str:
    text = _ID_LIKE.sub(lambda m: mask_id_number(m.group(0)), text)
    return _CONTROL.sub(lambda m: "\\x%02x" % ord(m.group(0)) if ord(m.group(0)) < 256 else "\\u%04x" % ord(m.group(0)), text)


class SafeFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        # Escape within the message, keep the newline that separates a traceback's lines readable
        # but prefixed so it cannot pass for a new record.
        head, sep, trace = message.partition("\n")
        out = sanitize(head)
        if sep:
            out += "\n" + "\n".join("    | " + sanitize(line) for line in trace.split("\n"))
        return out


class SafeFilter(logging.Filter):
    """For handlers we don't own (uvicorn's access log): sanitise the rendered message."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.msg = sanitize(record.getMessage())
            record.args = ()
        except Exception:  # noqa: BLE001 - never lose a log line over this
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
