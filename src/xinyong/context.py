"""Per-request context (request id, client address), readable anywhere without passing it down."""

from __future__ import annotations

import contextvars
import os

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
client_ip_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("client_ip", default=None)


def new_request_id() -> str:
    """32 random hex digits (as ``uuid4().hex`` gave, without building a UUID on every request)."""
    return os.urandom(16).hex()
