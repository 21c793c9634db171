"""Recording, sealing and verifying the hash-chained audit log, and catching tampering."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select, text, update
from tests.support import SYSTEM

from xinyong.audit import service
from xinyong.audit.models import AuditEntry
from xinyong.audit.service import GENESIS, Actor, record, seal_pending, verify

T = AuditEntry.__table__


def _add(session, n: int, action: str = "test.event") -> list[int]:
    ids = []
    for i in range(n):
        e = record(session, actor=SYSTEM, action=action, object_type="thing", object_id=i,
                   details={"n": i, "text": f"第{i}条", "nested": {"list": [i, "x"]}})
        session.flush()
        ids.append(e.id)
    session.commit()
    return ids


def _chain(session, n: int = 6) -> list[AuditEntry]:
    """n committed, sealed entries; returns the whole sealed chain in seq order (fresh objects)."""
    _add(session, n)
    seal_pending(session)
    session.commit()
    session.expunge_all()
    return list(session.scalars(select(AuditEntry).where(AuditEntry.seq.is_not(None)).order_by(AuditEntry.seq)))


def _verify(db, **kw):
    with db.session() as s:
        return verify(s, **kw)


def test_rolled_back_unit_of_work_leaves_no_entry(db):
    with pytest.raises(RuntimeError), db.session() as s:
        record(s, actor=SYSTEM, action="test.rolled_back")
        s.flush()
        assert s.scalar(select(func.count()).where(AuditEntry.action == "test.rolled_back")) == 1
        raise RuntimeError("boom")
    with db.session() as s:
        assert s.scalar(select(func.count()).where(AuditEntry.action == "test.rolled_back")) == 0


def test_record_fills_who_what_and_context(session):
    from xinyong.context import client_ip_var, request_id_var

    t1, t2 = request_id_var.set("req-123"), client_ip_var.set("10.0.0.9")
    try:
        e = record(session, actor=Actor(type="user", id="7", label="alice", department_id=3), action="x.y",
                   object_type="subject", object_id=42, outcome="denied", details={"k": "v"})
        session.flush()
    finally:
        request_id_var.reset(t1)
        client_ip_var.reset(t2)
    session.expire_all()
    row = session.get(AuditEntry, e.id)
    assert (row.actor_type, row.actor_id, row.actor_label, row.department_id) == ("user", "7", "alice", 3)
    assert (row.action, row.object_type, row.object_id, row.outcome) == ("x.y", "subject", "42", "denied")
    assert (row.request_id, row.ip, row.details) == ("req-123", "10.0.0.9", {"k": "v"})
    assert row.seq is None and row.entry_hash is None
    assert row.occurred_at.tzinfo is not None


def test_committed_entries_are_sealed_in_order_and_chained(session):
    head = service._head(session)
    ids = _add(session, 7)
    assert service.pending_count(session) == 7
    assert seal_pending(session, batch_size=3) == 7  # several batches continue one chain
    session.commit()
    session.expunge_all()
    rows = list(session.scalars(select(AuditEntry).where(AuditEntry.id.in_(ids)).order_by(AuditEntry.seq)))
    assert [r.id for r in rows] == ids
    assert [r.seq for r in rows] == list(range(head[0] + 1, head[0] + 8))
    prev = head[1]
    for r in rows:
        assert r.prev_hash == prev
        assert r.entry_hash == service.entry_hash(r, r.seq, r.prev_hash)
        assert r.sealed_at is not None
        prev = r.entry_hash
    assert seal_pending(session) == 0
    assert service.pending_count(session) == 0


def test_first_entry_chains_to_genesis(session):
    assert session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.seq.is_not(None))) == 0
    rows = _chain(session, 2)
    assert rows[0].seq == 1 and rows[0].prev_hash == GENESIS


def test_max_batches_limits_one_round(session):
    _add(session, 5)
    assert seal_pending(session, batch_size=2, max_batches=1) == 2
    assert service.pending_count(session) == 3
    assert seal_pending(session, batch_size=2) == 3


def test_verify_intact_chain(db, session):
    rows = _chain(session, 6)
    _add(session, 2)  # pending entries are reported, not an error
    res = _verify(db)
    assert res.ok, res.message
    assert res.checked == len(rows) == res.head_seq
    assert res.head_hash == rows[-1].entry_hash
    assert res.pending == 2
    assert res.problem is None


def test_empty_chain_verifies(db):
    res = _verify(db)
    assert res.ok and res.checked == 0 and res.head_seq == 0 and res.head_hash == GENESIS


def test_altered_row_is_named(db, session):
    _chain(session, 6)
    session.execute(update(T).where(T.c.seq == 4).values(details={"n": 999}))
    session.commit()
    res = _verify(db)
    assert not res.ok
    assert (res.problem, res.seq) == ("altered", 4)
    assert "4" in res.message


@pytest.mark.parametrize("column,value", [("outcome", "denied"), ("actor_label", "someone else"),
                                          ("object_id", "77"), ("action", "test.other")])
def test_any_altered_column_is_detected(db, session, column, value):
    _chain(session, 4)
    session.execute(update(T).where(T.c.seq == 2).values({column: value}))
    session.commit()
    res = _verify(db)
    assert (res.ok, res.problem, res.seq) == (False, "altered", 2)


def test_altered_occurred_at_is_detected(db, session):
    rows = _chain(session, 3)
    from datetime import timedelta

    session.execute(update(T).where(T.c.seq == 1).values(occurred_at=rows[0].occurred_at - timedelta(seconds=1)))
    session.commit()
    res = _verify(db)
    assert (res.ok, res.problem, res.seq) == (False, "altered", 1)


def test_deleted_middle_row_is_named(db, session):
    _chain(session, 6)
    session.execute(delete(T).where(T.c.seq == 3))
    session.commit()
    res = _verify(db)
    assert (res.ok, res.problem, res.seq) == (False, "removed", 3)


def test_deleted_first_row_is_named(db, session):
    _chain(session, 3)
    session.execute(delete(T).where(T.c.seq == 1))
    session.commit()
    res = _verify(db)
    assert (res.ok, res.problem, res.seq) == (False, "removed", 1)


def _swap(session, a: int, b: int) -> None:
    session.execute(update(T).where(T.c.seq == a).values(seq=-1))
    session.execute(update(T).where(T.c.seq == b).values(seq=a))
    session.execute(update(T).where(T.c.seq == -1).values(seq=b))
    session.commit()


@pytest.mark.parametrize(("a", "b"), [(3, 4), (2, 5), (1, 6)])
def test_swapped_rows_are_reordered(db, session, a, b):
    _chain(session, 6)
    _swap(session, a, b)
    res = _verify(db)
    assert (res.ok, res.problem, res.seq) == (False, "reordered", a)


def _renumber_from(session, k: int, by: int) -> None:
    """Shift every seq after k by ``by`` (through a temporary range, for the unique constraint)."""
    session.execute(update(T).where(T.c.seq > k).values(seq=T.c.seq + 1_000_000))
    session.execute(update(T).where(T.c.seq > 1_000_000).values(seq=T.c.seq - 1_000_000 + by))
    session.commit()


def _forge(session, seq: int, prev_hash: str, *, good_hash: bool = True) -> int:
    forged = AuditEntry(actor_type="system", actor_label="tests", action="test.event", object_type="thing",
                        object_id="forged", outcome="ok", details={"n": -1}, seq=seq, prev_hash=prev_hash,
                        entry_hash="0" * 64)
    session.add(forged)
    session.flush()
    session.refresh(forged)  # hash what the database holds
    h = service.entry_hash(forged, seq, prev_hash) if good_hash else "f" * 64
    session.execute(update(T).where(T.c.id == forged.id).values(entry_hash=h))
    session.commit()
    return forged.id


def test_inserted_row_with_a_correct_looking_hash_is_named(db, session):
    rows = _chain(session, 6)
    k = 3
    _renumber_from(session, k, +1)
    fid = _forge(session, k + 1, rows[k - 1].entry_hash)
    res = _verify(db)
    assert not res.ok
    assert (res.problem, res.seq) == ("inserted", k + 1), res.message
    assert res.entry_id in (fid, None) or res.entry_id == rows[k].id


def test_inserted_row_with_a_wrong_hash_is_named(db, session):
    rows = _chain(session, 5)
    _renumber_from(session, 2, +1)
    _forge(session, 3, rows[1].entry_hash, good_hash=False)
    res = _verify(db)
    assert (res.ok, res.problem, res.seq) == (False, "inserted", 3), res.message


def test_two_inserted_rows(db, session):
    rows = _chain(session, 5)
    _renumber_from(session, 2, +2)
    first = _forge(session, 3, rows[1].entry_hash)
    second_prev = session.scalar(select(AuditEntry.entry_hash).where(AuditEntry.id == first))
    _forge(session, 4, second_prev)
    res = _verify(db)
    assert (res.ok, res.problem, res.seq) == (False, "inserted", 3), res.message


def test_rewritten_chain_passes_alone_but_not_against_a_checkpoint(db, session, keyring, tmp_path):
    """Rehashing everything after a change fools the chain; the signed checkpoint does not."""
    rows = _chain(session, 5)
    doc = service.write_checkpoint(session, ring=keyring, directory=tmp_path)
    session.commit()
    session.execute(update(T).where(T.c.seq == 2).values(details={"n": 12345}))
    session.commit()
    session.expunge_all()
    prev = rows[0].entry_hash
    for r in session.scalars(select(AuditEntry).where(AuditEntry.seq >= 2).order_by(AuditEntry.seq)).all():
        h = service.entry_hash(r, r.seq, prev)
        session.execute(update(T).where(T.c.id == r.id).values(prev_hash=prev, entry_hash=h))
        prev = h
    session.commit()
    assert _verify(db).ok
    cp = service.load_checkpoint(tmp_path / f"checkpoint-{doc['seq']:012d}.json", ring=keyring)
    res = _verify(db, checkpoint=cp)
    assert (res.ok, res.problem, res.seq) == (False, "broken", 5)


def test_truncated_tail_after_a_checkpoint(db, session, keyring, tmp_path):
    rows = _chain(session, 6)
    doc = service.write_checkpoint(session, ring=keyring, directory=tmp_path)
    session.commit()
    assert doc["seq"] == rows[-1].seq and doc["head_hash"] == rows[-1].entry_hash
    path = service.latest_checkpoint_file(tmp_path)
    cp = service.load_checkpoint(path, ring=keyring)
    assert _verify(db, checkpoint=cp).ok
    session.execute(delete(T).where(T.c.seq > 4))
    session.commit()
    assert _verify(db).ok  # without the checkpoint a truncated tail is invisible
    res = _verify(db, checkpoint=cp)
    assert (res.ok, res.problem, res.seq) == (False, "truncated", 5)
    assert "6" in res.message


def test_a_truncated_tail_grown_again_is_caught_by_every_checkpoint(db, session, keyring, tmp_path):
    """The tail cut off, then new entries sealed onto the shortened chain past the old head under a
    newer checkpoint: that checkpoint agrees with the chain, the older one does not (``broken`` at
    its seq); verifying against all of them catches it."""
    _chain(session, 6)
    old = service.write_checkpoint(session, ring=keyring, directory=tmp_path)
    session.commit()
    session.execute(delete(T).where(T.c.seq > 4))
    session.commit()
    _chain(session, 4)  # seals seq 5..8 onto seq 4
    new = service.write_checkpoint(session, ring=keyring, directory=tmp_path)
    session.commit()
    assert (old["seq"], new["seq"]) == (6, 8)
    assert _verify(db, checkpoint=new).ok  # the newest alone sees nothing wrong
    docs = [service.load_checkpoint(p, ring=keyring) for p in service.checkpoint_files(tmp_path)]
    res = _verify(db, checkpoints=docs)
    assert (res.ok, res.problem, res.seq) == (False, "broken", 6)
    assert _verify(db, checkpoints=docs[-1:]).ok


def test_entries_after_a_checkpoint_still_verify(db, session, keyring):
    _chain(session, 3)
    doc = service.write_checkpoint(session, ring=keyring, directory=None)
    session.commit()
    _chain(session, 3)
    res = _verify(db, checkpoint=doc)
    assert res.ok and res.head_seq == 6


def test_entries_committed_out_of_id_order_are_sealed_and_verify(db, session):
    """A transaction that took its id early but committed late is sealed after later ids."""
    _add(session, 2)
    seal_pending(session)
    session.commit()
    top = session.scalar(select(func.max(AuditEntry.id)))
    late_id, early_id = top + 10, top + 20
    session.execute(T.insert().values(id=early_id, occurred_at=service.utcnow(), actor_type="system",
                                      action="test.early", outcome="ok", details={}))
    session.commit()
    assert seal_pending(session) == 1
    session.commit()
    session.execute(T.insert().values(id=late_id, occurred_at=service.utcnow(), actor_type="system",
                                      action="test.late", outcome="ok", details={}))
    session.commit()
    assert seal_pending(session) == 1
    session.commit()
    seqs = dict(session.execute(select(AuditEntry.id, AuditEntry.seq).where(AuditEntry.id.in_([late_id, early_id]))).all())
    assert seqs[late_id] == seqs[early_id] + 1
    res = _verify(db)
    assert res.ok, res.message
    assert res.pending == 0 and res.checked == 4
    assert any("late commit" in n for n in res.notes)


def test_record_many_is_sealed_like_single_entries(db, session):
    n = service.record_many(session, actor=SYSTEM, action="test.bulk", object_type="thing",
                            items=[(i, {"i": i}) for i in range(5)])
    session.commit()
    assert n == 5
    assert seal_pending(session) == 5
    session.commit()
    assert _verify(db).ok


def test_sealing_lock_row_is_taken_only_when_there_is_work(session):
    def runs() -> int:
        return session.execute(text("SELECT sealed_runs FROM audit_seal_lock WHERE id = 1")).scalar_one()

    seal_pending(session)
    idle = runs()
    assert seal_pending(session) == 0 and runs() == idle  # nothing pending: no lock, no write
    record(session, actor=SYSTEM, action="test.lock")
    session.flush()
    assert seal_pending(session) == 1 and runs() == idle + 1


def test_a_plan_overtaken_by_another_sealer_writes_nothing(db):  # type: ignore[no-untyped-def]
    """The server's sealer plans outside the lock; if another sealer seals meanwhile, its plan is
    refused as a whole (no entry sealed twice, no fork in the chain) and the next round goes on."""
    from xinyong.app import AuditSealer

    with db.session() as s:
        _add(s, 4)
    with db.session(write=False) as s:
        stale = service.plan_seal(s)
    assert stale is not None and [u["seq"] for u in stale.updates] == [1, 2, 3, 4]
    with db.session() as s:
        assert seal_pending(s) == 4  # another process's sealer
        _add(s, 2)
    with db.session() as s:
        assert service.apply_seal(s, stale) == 0
    assert AuditSealer(db, interval=0).seal_round() == 2
    with db.session() as s:
        seqs = s.scalars(select(AuditEntry.seq).order_by(AuditEntry.id)).all()
        assert seqs == [1, 2, 3, 4, 5, 6]
    assert _verify(db).ok


def test_the_sealer_logs_a_database_outage_once_not_every_round(caplog: pytest.LogCaptureFixture) -> None:
    """Walking operations.md with the database gone while serving: each 2-second round logged two
    tracebacks (sealing, the holiday table), ~100 lines a second into journald, burying the cause."""
    import logging
    import time

    from xinyong.app import AuditSealer
    from xinyong.db import Database

    down = Database("postgresql+psycopg://nobody@127.0.0.1:1/xy_unreachable")
    sealer = AuditSealer(down, interval=0.01)
    rounds = []
    sealer.record_refusals = lambda: rounds.append(1) or 0  # type: ignore[method-assign]  # each round's start
    try:
        with caplog.at_level(logging.WARNING, logger="xinyong"):
            sealer.start()
            deadline = time.monotonic() + 10
            while len(rounds) < 20 and time.monotonic() < deadline:
                time.sleep(0.05)
            sealer.stop()
        assert len(rounds) >= 20
        tracebacks = [r for r in caplog.records if r.exc_info]
        assert [r.getMessage().split(" failed")[0] for r in tracebacks] == [
            "audit sealing round", "reading the holiday table"]
    finally:
        down.dispose()
