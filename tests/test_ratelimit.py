"""Per-caller token buckets: 429 with Retry-After over the limit, refill with time, per caller."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from xinyong import errors
from xinyong.ratelimit import Limit, RateLimited, RateLimiter, parse_limits


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_parse_limits() -> None:
    limits = parse_limits("checks=100/s:200, reports=10/m")
    assert limits["checks"] == Limit(rate=100.0, burst=200)
    assert limits["reports"].rate == pytest.approx(10 / 60) and limits["reports"].burst == 10
    assert parse_limits("off") == {} and parse_limits("") == {}
    for bad in ("checks", "checks=0/s", "checks=5/d", "=5/s"):
        with pytest.raises(ValueError):
            parse_limits(bad)


def test_burst_then_refill_per_caller() -> None:
    clock = FakeClock()
    limiter = RateLimiter({"checks": Limit(rate=2.0, burst=3)}, clock=clock)
    assert [limiter.take("checks", "a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take("checks", "a")
    assert wait == pytest.approx(0.5)
    assert limiter.take("checks", "b") == 0.0  # another caller has its own bucket
    assert limiter.take("other", "a") == 0.0  # an unconfigured limit never refuses
    clock.now += 0.5
    assert limiter.take("checks", "a") == 0.0
    assert limiter.take("checks", "a") > 0


@settings(max_examples=60, deadline=None)
@given(rate=st.floats(min_value=0.5, max_value=50), burst=st.integers(min_value=1, max_value=20),
       gaps=st.lists(st.floats(min_value=0, max_value=2), min_size=1, max_size=80))
def test_never_more_than_burst_plus_rate_times_elapsed(rate: float, burst: int, gaps: list[float]) -> None:
    clock = FakeClock()
    limiter = RateLimiter({"x": Limit(rate=rate, burst=burst)}, clock=clock)
    start, allowed = clock.now, 0
    for gap in gaps:
        clock.now += gap
        allowed += limiter.take("x", "c") == 0.0
    assert allowed <= burst + rate * (clock.now - start) + 1e-6


def test_429_with_retry_after_in_the_standard_shape() -> None:
    app = FastAPI()
    errors.install(app, lambda request, status, code, message: None)
    app.state.rate_limiter = RateLimiter({"checks": Limit(rate=1 / 60, burst=2)})

    @app.get("/api/v1/limited", dependencies=[RateLimited("checks")])
    def limited() -> dict[str, bool]:
        return {"ok": True}

    client = TestClient(app)
    assert [client.get("/api/v1/limited").status_code for _ in range(2)] == [200, 200]
    refused = client.get("/api/v1/limited")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    body = refused.json()
    assert body["code"] == "rate_limited" and "retry" in body["message"]
