"""The group-commit register: concurrent checks share one transaction; a failed batch fails all of
its requests and keeps none of its rows."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import func, select
from tests.support import SYSTEM, new_id_number

from xinyong.audit.models import AuditEntry
from xinyong.measures import service
from xinyong.measures.models import Check
from xinyong.measures.register import GroupWriter


def _rows(db, vault, world, n: int) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    caller = service.Caller(world.dept_a.id, world.dept_a.code, SYSTEM)
    with db.session() as s:
        return [service.run_check(s, vault=vault, caller=caller, id_number=new_id_number(), scenario="awards").row
                for _ in range(n)]


def test_concurrent_rows_share_one_commit(db, vault, world):  # type: ignore[no-untyped-def]
    rows = _rows(db, vault, world, 20)
    writer = GroupWriter(db)

    async def main() -> None:
        await asyncio.gather(*(writer.submit(r) for r in rows))

    asyncio.run(main())
    assert (writer.batches, writer.rows) == (1, 20)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Check)) == 20
        [entry] = s.scalars(select(AuditEntry).where(AuditEntry.action == "checks.run"))
        assert sorted(c[0] for c in entry.details["checks"]) == sorted(r["check_id"] for r in rows)


def test_a_failed_batch_fails_every_request_and_keeps_nothing(db, vault, world):  # type: ignore[no-untyped-def]
    rows = _rows(db, vault, world, 3)
    rows[2]["check_id"] = rows[0]["check_id"]  # a unique-key violation inside the batch
    writer = GroupWriter(db)

    async def main() -> list[object]:
        return await asyncio.gather(*(writer.submit(r) for r in rows), return_exceptions=True)

    results = asyncio.run(main())
    assert all(isinstance(r, Exception) for r in results)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Check)) == 0


def test_batches_are_capped(db, vault, world):  # type: ignore[no-untyped-def]
    rows = _rows(db, vault, world, 7)
    writer = GroupWriter(db, max_batch=3)

    async def main() -> None:
        await asyncio.gather(*(writer.submit(r) for r in rows))

    asyncio.run(main())
    assert (writer.batches, writer.rows) == (3, 7)


def test_a_batch_as_large_as_the_last_flushes_without_waiting_out_the_window(db, vault, world):  # type: ignore[no-untyped-def]
    """With a window of a minute, a lone request and then a batch the size of the last one are each
    written at once: the window only bounds the wait for requests that may still come."""
    rows = _rows(db, vault, world, 9)
    writer = GroupWriter(db, window=60.0)

    async def main() -> None:
        await asyncio.wait_for(writer.submit(rows[0]), timeout=5)  # the first: no earlier batch to wait for
        await asyncio.wait_for(asyncio.gather(*(writer.submit(r) for r in rows[1:5])), timeout=5)
        await asyncio.wait_for(asyncio.gather(*(writer.submit(r) for r in rows[5:9])), timeout=5)

    asyncio.run(main())
    assert (writer.batches, writer.rows) == (3, 9)


def test_a_smaller_batch_waits_for_the_window(db, vault, world):  # type: ignore[no-untyped-def]
    rows = _rows(db, vault, world, 5)
    writer = GroupWriter(db, window=0.3)

    async def main() -> float:
        await asyncio.gather(*(writer.submit(r) for r in rows[:4]))  # the last batch: 4 rows
        loop = asyncio.get_running_loop()
        t = loop.time()
        await writer.submit(rows[4])  # alone now: waits for company, at most the window
        return loop.time() - t

    waited = asyncio.run(main())
    assert 0.25 <= waited < 5 and (writer.batches, writer.rows) == (2, 5)


def test_rows_arriving_during_a_write_wait_for_as_many_as_were_in_flight(db, vault, world):  # type: ignore[no-untyped-def]
    """A writer thread (PostgreSQL's): the rows that arrived while a batch was written wait — up to the
    window — until as many rows as that batch and they together are pending, so that the requests
    released by the commit share the next one instead of following in a batch of their own."""
    rows = _rows(db, vault, world, 10)
    writer = GroupWriter(db, window=5.0, offload=True)
    real = writer._write

    def slow(batch):  # type: ignore[no-untyped-def]
        time.sleep(0.2)
        real(batch)

    writer._write = slow  # type: ignore[method-assign]

    async def main() -> None:
        first = [asyncio.ensure_future(writer.submit(r)) for r in rows[:4]]
        await asyncio.sleep(0.05)  # the first batch (4 rows) is being written
        late = [asyncio.ensure_future(writer.submit(r)) for r in rows[4:6]]
        await asyncio.gather(*first)
        await asyncio.sleep(0.05)
        back = [asyncio.ensure_future(writer.submit(r)) for r in rows[6:10]]  # the released requests return
        await asyncio.wait_for(asyncio.gather(*late, *back), timeout=3)

    asyncio.run(main())
    assert (writer.batches, writer.rows) == (2, 10)


@pytest.mark.parametrize("status", [200, 422])
def test_key_last_use_is_stamped_by_the_register(client, world, db, status):  # type: ignore[no-untyped-def]
    from xinyong.auth.models import ApiKey

    r = client.post("/api/v1/checks", json={"id_number": new_id_number() if status == 200 else "1",
                                            "scenario": "awards"}, headers=world.bearer(world.key_a))
    assert r.status_code == status
    with db.session() as s:
        key = s.scalar(select(ApiKey).where(ApiKey.department_id == world.dept_a.id))
        assert key is not None and key.last_used_at is not None


def test_check_ids_ascend_and_stay_unguessable() -> None:
    """Ascending (the register's unique index grows at its right edge), 32 hex digits as the API's
    path expects, and 80 random bits after the time: no two alike even within one millisecond."""
    import re

    ids = [service.new_check_id() for _ in range(2000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert [i[:12] for i in ids] == sorted(i[:12] for i in ids)
    assert len({i[12:] for i in ids}) == len(ids)
    later = service.new_check_id()
    time.sleep(0.002)
    assert service.new_check_id() > later
