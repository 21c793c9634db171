"""The platform's day is the district's (``xinyong.clock``), whatever the server's own zone: at
01:30 in Beijing, 17:30 UTC the day before, a decision taken that morning is not "in the future",
and a child born that day holds a valid ID number."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
import time_machine
from fastapi.testclient import TestClient
from pydantic import ValidationError
from tests.records.records_support import penalty
from tests.support import SYSTEM, new_id_number

from xinyong import clock
from xinyong.app import create_app
from xinyong.catalog.service import load_default
from xinyong.config import Settings
from xinyong.privacy import identity

# 2026-11-27 01:30 in Beijing; still 2026-11-26 in UTC
EARLY_MORNING = datetime(2026, 11, 26, 17, 30, tzinfo=UTC)
BEIJING_DAY, UTC_DAY = date(2026, 11, 27), date(2026, 11, 26)


@pytest.fixture(autouse=True)
def _district_zone() -> Iterator[None]:
    clock.configure(clock.DEFAULT_ZONE)
    yield
    clock.configure(clock.DEFAULT_ZONE)


@pytest.fixture
def catalog_loaded(db):  # type: ignore[no-untyped-def]
    with db.session() as s:
        load_default(s, actor=SYSTEM)


def _push(client: TestClient, world, decided_at: str, source_id: str) -> dict:  # type: ignore[no-untyped-def]
    idn = new_id_number(born=date(1980, 5, 6))
    r = client.post("/api/v1/records", headers=world.bearer(world.key_a),
                    json={"records": [penalty(idn, "李四", source_id=source_id, decided_at=decided_at)]})
    assert r.status_code == 200, r.text
    return r.json()["results"][0]


def test_the_day_is_counted_in_the_districts_zone() -> None:
    with time_machine.travel(EARLY_MORNING, tick=False):
        assert datetime.now(UTC).date() == UTC_DAY
        assert clock.today() == BEIJING_DAY
        assert clock.now().utcoffset().total_seconds() == 8 * 3600  # type: ignore[union-attr]
        clock.configure("UTC")
        assert clock.today() == UTC_DAY


def test_a_decision_of_this_morning_is_not_in_the_future(client, world, catalog_loaded) -> None:  # type: ignore[no-untyped-def]
    with time_machine.travel(EARLY_MORNING, tick=True):
        today = _push(client, world, BEIJING_DAY.isoformat(), "P-today")
        tomorrow = _push(client, world, "2026-11-28", "P-tomorrow")
    assert today["status"] == "created", today
    assert tomorrow["status"] == "rejected"
    assert [(e["field"], e["code"]) for e in tomorrow["errors"]] == [("decided_at", "future_date")]


def test_an_id_number_born_today_in_the_district_is_valid() -> None:
    born_today = identity.make_id_number("120101", BEIJING_DAY, 7)
    born_tomorrow = identity.make_id_number("120101", date(2026, 11, 28), 7)
    with time_machine.travel(EARLY_MORNING, tick=False):
        assert identity.check(born_today).birth_date == BEIJING_DAY
        with pytest.raises(identity.InvalidIdNumber) as exc:
            identity.check(born_tomorrow)
    assert exc.value.code == "id_birth_date"


def test_the_configured_zone_is_the_one_used(db, vault, world, catalog_loaded, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(database_url="sqlite:///unused.db", key_file=tmp_path / "keys.json",
                        checkpoint_dir=tmp_path / "checkpoints", audit_seal_interval_seconds=0, timezone="UTC")
    app = create_app(settings, database=db, vault=vault)
    with TestClient(app, base_url="https://testserver") as client, time_machine.travel(EARLY_MORNING, tick=True):
        got = _push(client, world, BEIJING_DAY.isoformat(), "P-utc")
    assert clock.zone().key == "UTC"
    assert got["status"] == "rejected"
    assert [e["code"] for e in got["errors"]] == ["future_date"]


def test_an_unknown_zone_is_refused_with_its_name(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as exc:
        Settings(database_url="sqlite:///unused.db", key_file=tmp_path / "k.json", timezone="Mars/Olympus_Mons")
    assert "Mars/Olympus_Mons" in str(exc.value)
    assert "未知时区" in str(exc.value)
    with pytest.raises(ValueError, match="unknown time zone"):
        clock.configure("Not/A_Zone")
    assert clock.zone().key == clock.DEFAULT_ZONE  # a refused name changes nothing


def test_no_module_asks_the_server_for_the_day() -> None:
    """The rule above, kept: only ``xinyong.clock`` reads the current date, and nothing reads the
    server's local time (``date.today()``, ``datetime.now()`` without a zone, ``time.localtime``)."""
    import re
    from pathlib import Path

    import xinyong

    root = Path(xinyong.__file__).parent
    pattern = re.compile(r"\bdate\.today\(\)|\bdatetime\.(?:now|today)\(\)|\butcnow\(\)\.date\(\)|\btime\.localtime\b")
    offenders = [f"{path.relative_to(root)}:{n}" for path in sorted(root.rglob("*.py")) if path.name != "clock.py"
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if pattern.search(line.split("#", 1)[0])]
    assert offenders == [], f"ask xinyong.clock for the day instead: {offenders}"
