"""Per-caller rate limits for the expensive or sensitive APIs (the check API, reports).

A token bucket per (limit name, caller): an API key, a user, or the client address for anonymous
callers. Limits are configuration (``XINYONG_RATE_LIMITS``, e.g. ``checks=100/s:200,reports=10/m``:
rate per second or minute, then the burst). Over the limit the API answers 429 with
``Retry-After`` (whole seconds) and the standard error shape.

Buckets live in the process: with N server workers a caller gets up to N times the rate. That is
the documented trade-off for not needing a shared store; put a shared limiter (the reverse proxy's)
in front when the exact figure matters.

Refused calls are registered too, without a write per call (which a flood would turn into a flood of
writes): the limiter counts them per limit and caller, and :func:`record_refusals` writes one audit
entry ``ratelimit.refused`` per limit and caller with the count and the first and last refusal —
the server's audit sealer does it every few seconds, and once more when the server stops.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from xinyong.audit.service import Actor, record
from xinyong.db import utcnow
from xinyong.errors import ApiError

_MAX_BUCKETS = 100_000
_MAX_REFUSED = 10_000  # callers counted between two records; beyond, counted together (``overflow``)


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
            raise ValueError(f"限流单位应为 s、m 或 h / rate limit unit must be s, m or h: {text!r}")
        try:
            rate = float(count) / seconds
            bucket = int(burst) if burst else max(1, math.ceil(float(count)))
        except (ValueError, OverflowError):
            raise ValueError(f"限流应写作 次数/单位[:突发] / a rate limit is written rate/unit[:burst], "
                             f"e.g. 100/s:200: {text!r}") from None
        if not 0 < rate < math.inf or bucket < 1:
            raise ValueError(f"限流次数与突发量须为正数 / rate limit and burst must be positive: {text!r}")
        return cls(rate=rate, burst=bucket)


def parse_limits(text: str) -> dict[str, Limit]:
    """``name=rate[:burst],…``; an empty string or ``off`` means no limits."""
    limits: dict[str, Limit] = {}
    if text.strip().lower() in ("", "off", "none"):
        return limits
    for part in text.split(","):
        name, sep, spec = part.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"限流应写作 名称=次数/单位[:突发]，以逗号分隔 / rate limits are written "
                             f"name=rate/unit[:burst], comma-separated: {part!r}")
        limits[name.strip()] = Limit.parse(spec)
    return limits


class RateLimiter:
    """Token buckets; ``take`` answers 0 when allowed, else the seconds to wait."""

    def __init__(self, limits: dict[str, Limit], clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._refused: dict[tuple[str, str, str], Refusals] = {}

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

    def refused(self, name: str, caller: str, actor: Actor, ip: str | None, path: str,
                action: str = "ratelimit.refused") -> None:
        """Count a refused call (for :func:`record_refusals`): over the limit ``name``, or (another
        ``action``) refused otherwise without a record of its own, such as a malformed check."""
        now = utcnow()
        with self._lock:
            key = (action, name, caller)
            got = self._refused.get(key)
            if got is None and len(self._refused) >= _MAX_REFUSED:
                key = (action, name, "overflow")
                got = self._refused.get(key)
                actor, ip = Actor(type="anonymous", label="many callers"), None
            if got is None:
                self._refused[key] = Refusals(actor, ip, path, 1, now, now)
            else:
                got.calls += 1
                got.last = now

    def drain_refusals(self) -> dict[tuple[str, str, str], Refusals]:
        """The refusals counted since the last drain (and forget them)."""
        with self._lock:
            out, self._refused = self._refused, {}
        return out

    def _evict(self, now: float) -> None:
        """Drop buckets that have refilled completely (they carry no state worth keeping)."""
        full = [k for k, (tokens, last) in self._buckets.items()
                if tokens + (now - last) * self.limits[k[0]].rate >= self.limits[k[0]].burst]
        for k in full or list(self._buckets)[: len(self._buckets) // 2]:
            del self._buckets[k]


@dataclass(slots=True)
class Refusals:
    """One caller's calls refused by one limit since the last record."""

    actor: Actor
    ip: str | None
    path: str
    calls: int
    first: datetime
    last: datetime


def record_refusals(session: Session, limiter: RateLimiter) -> int:
    """One audit entry (``ratelimit.refused``, or the action counted; outcome ``denied``) per limit
    and caller refused since the last call, with the number of calls and the first and last; in
    ``session`` (the caller commits). Returns the number of calls recorded."""
    calls = 0
    for (action, name, _caller), r in limiter.drain_refusals().items():
        record(session, actor=r.actor, action=action, object_type="rate_limit" if action == "ratelimit.refused"
               else "api", object_id=name, outcome="denied", details={"limit": name, "calls": r.calls, "path": r.path, "ip": r.ip,
                                          "first": r.first.isoformat(), "last": r.last.isoformat()})
        calls += r.calls
    return calls


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


def count_refusal(request: Request) -> None:
    """A request the schema refused, on a route whose calls must all leave a trace (the check API, its
    feedback and batch uploads: the app's ``counted_refusals``, (method, path or route template) →
    audit action): counted per caller like the refusals
    over a limit and recorded the same way (:func:`record_refusals`), not one write per call. The
    caller is the authenticated one when known (a body that is not even JSON is refused before the
    key is read: then the client address)."""
    state = request.app.state
    counted = getattr(state, "counted_refusals", {})
    # a route with a path parameter (a check's feedback) is named by its template, never by the
    # path as sent
    template = getattr(request.scope.get("route"), "path", None)
    path = request.url.path if (request.method, request.url.path) in counted else template
    action = counted.get((request.method, path)) if path is not None else None
    limiter = getattr(state, "rate_limiter", None)
    if action is None or limiter is None:
        return
    principal = getattr(request.state, "principal", None)
    host = request.client.host if request.client else None
    limiter.refused(action.partition(".")[0], caller_of(principal, host),
                    principal.actor if principal is not None else Actor(type="anonymous"), host, path,
                    action=action)


def over_limit(request: Request, name: str, principal: Any) -> int | None:
    """Take one call of ``principal`` (None: the client address) from its ``name`` bucket. Within the
    limit: None. Over it: the refusal counted (recorded in aggregate, :func:`record_refusals`) and the
    whole seconds to wait, for the caller's 429 (the API's :func:`rate_limited`, the check form's page)."""
    host = request.client.host if request.client else None
    caller = caller_of(principal, host)
    limiter = limiter_of(request.app)
    wait = limiter.take(name, caller)
    if wait <= 0:
        return None
    limiter.refused(name, caller, principal.actor if principal is not None else Actor(type="anonymous"),
                    host, request.url.path)
    return max(1, math.ceil(wait))


def limited_message(retry: int) -> str:
    return f"请求过于频繁，请 {retry} 秒后重试 / too many requests; retry after {retry} s"


def rate_limited(name: str) -> Callable[..., Any]:
    """Dependency factory; put it after the route's permission dependency so the caller is known."""

    def _dep(request: Request) -> None:
        retry = over_limit(request, name, getattr(request.state, "principal", None))
        if retry is not None:
            raise ApiError(429, "rate_limited", limited_message(retry), headers={"Retry-After": str(retry)})

    _dep.__name__ = f"rate_limited_{name}"
    return _dep


def RateLimited(name: str) -> Any:  # noqa: N802 - reads like a type in a signature
    return Depends(rate_limited(name))
