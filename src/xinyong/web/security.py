"""Small web-security helpers shared by the pages: local redirects and cookie attributes."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request, Response

from xinyong.privacy.crypto import same_secret

__all__ = ["delete_cookie", "safe_next", "same_secret", "secure_cookies", "set_cookie"]

MAX_NEXT = 2000


def safe_next(value: str | None, default: str = "/") -> str:
    """A redirect target only if it is a path on this site; anything else becomes ``default``.

    Refused: absolute URLs, scheme-relative ``//host``, backslashes (browsers read ``/\\host``
    as ``//host``), control characters and whitespace, over-long values.
    """
    if not value or len(value) > MAX_NEXT or not value.startswith("/") or value.startswith("//"):
        return default
    if "\\" in value or any(ord(c) < 33 or ord(c) == 127 for c in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def secure_cookies(request: Request) -> bool:
    return bool(request.app.state.settings.secure_cookies)


def set_cookie(request: Request, response: Response, name: str, value: str, *,
               max_age: int | None = None) -> None:
    """HttpOnly, SameSite=Lax, path ``/``, Secure outside development."""
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="lax",
                        secure=secure_cookies(request))


def delete_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(name, path="/", httponly=True, samesite="lax", secure=secure_cookies(request))
