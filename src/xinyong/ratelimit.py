"""Per-caller rate limits for the expensive or sensitive APIs (the check API, reports).

A token bucket per (limit name, caller): an API key, a user, or the client address for anonymous
callers. Limits are configuration (``XINYONG_RATE_LIMITS``, e.g. ``checks=100/s:200,reports=10/m``:
rate per second or minute, then the burst). Over the limit the API answers 429 with
``Retry-After`` (whole seconds) and the standard error shape.

Buckets live in the process: with N server workers a caller gets up to N times the rate. That is
the documented trade-off for not needing a shared store; put a shared limiter (the reverse proxy's)
in front when the exact figure matters.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request

from xinyong.errors import ApiError

_MAX_BUCKETS = 100_000


@dataclass(frozen=True, slots=True)
class Limit:
    rate: float  # tokens per second
    burst: int

    @classmethod
    def parse(cls, text: str) -> Limit:
        """``100/s:200`` → 100 a second, burst 200; ``10/m`` → 10 a minute, burst 10."""
        spec, _, burst = text.strip().partition(":")
        count, _, unit = spec.partition("/")
        seconds = {"s": 1.0, "m": 60.0, "h": 3600.0}.get(unit.strip() or "s")
        if seconds is None:
            raise ValueError(f"rate limit unit must be s, m or h: {text!r}")
        rate = float(count) / seconds
        if rate <= 0:
            raise ValueError(f"rate limit must be positive: {text!r}")
        return cls(rate=rate, burst=int(burst) if burst else max(1, math.ceil(float(count))))


def parse_limits(text: str) -> dict[str, Limit]:
    """``name=rate[:burst],…``; an empty string or ``off`` means no limits."""
    limits: dict[str, Limit] = {}
    if text.strip().lower() in ("", "off", "none"):
        return limits
    for part in text.split(","):
        name, sep, spec = part.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"rate limits are written name=rate[:burst]: {part!r}")
        limits[name.strip()] = Limit.parse(spec)
    return limits


class RateLimiter:
    """Token buckets; ``take`` answers 0 when allowed, else the seconds to wait."""

    def __init__(self, limits: dict[str, Limit], clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, name: str, caller: str) -> float:
        limit = self.limits.get(name)
        if limit is None:
            return 0.0
        now = self._clock()
        key = (name, caller)
        with self._lock:
            tokens, last = self._buckets.get(key, (float(limit.burst), now))
            tokens = min(float(limit.burst), tokens + (now - last) * limit.rate)
            if tokens >= 1.0:
                if len(self._buckets) >= _MAX_BUCKETS and key not in self._buckets:
                    self._evict(now)
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / limit.rate

    def _evict(self, now: float) -> None:
        """Drop buckets that have refilled completely (they carry no state worth keeping)."""
        full = [k for k, (tokens, last) in self._buckets.items()
                if tokens + (now - last) * self.limits[k[0]].rate >= self.limits[k[0]].burst]
        for k in full or list(self._buckets)[: len(self._buckets) // 2]:
            del self._buckets[k]


def limiter_of(app: Any) -> RateLimiter:
    limiter = getattr(app.state, "rate_limiter", None)
    if limiter is None:
        from xinyong.config import get_settings

        settings = getattr(app.state, "settings", None) or get_settings()
        limiter = app.state.rate_limiter = RateLimiter(parse_limits(settings.rate_limits))
    return limiter


def caller_of(principal: Any, client_host: str | None) -> str:
    """The bucket's owner: the authenticated caller, else the client address."""
    if principal is not None:
        return f"{principal.kind}:{principal.id}"
    return f"ip:{client_host or '-'}"


def rate_limited(name: str) -> Callable[..., Any]:
    """Dependency factory; put it after the route's permission dependency so the caller is known."""

    def _dep(request: Request) -> None:
        caller = caller_of(getattr(request.state, "principal", None), request.client.host if request.client else None)
        wait = limiter_of(request.app).take(name, caller)
        if wait > 0:
            retry = max(1, math.ceil(wait))
            raise ApiError(429, "rate_limited", f"请求过于频繁，请 {retry} 秒后重试 / too many requests; "
                           f"retry after {retry} s", headers={"Retry-After": str(retry)})

    _dep.__name__ = f"rate_limited_{name}"
    return _dep


def RateLimited(name: str) -> Any:  # noqa: N802 - reads like a type in a signature
    return Depends(rate_limited(name))
