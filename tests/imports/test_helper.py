"""The import's helper process (``imports.prepare``): a file prepared there is imported exactly as one
prepared in the runner — every status, row error and rejection the same, across chunks and on a
resumed run — and when the helper cannot start, dies mid-way or is killed with its runner, nothing
is lost, doubled or left behind."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from tests.imports.imports_support import ZH_HEADER, csv_bytes, penalty_rows
from tests.support import SYSTEM, new_id_number

from xinyong.catalog.service import current_items, item_from_data, item_to_data
from xinyong.imports import prepare, runner, service
from xinyong.imports.models import ImportFile, ImportRowError
from xinyong.privacy.keys import KeyRing
from xinyong.privacy.vault import Vault
from xinyong.records.models import Record, Rejection
from xinyong.records.service import DepartmentRef, check_batch, check_records, checked_from_packed, pack_prepared

CHUNK = 7


def _mixed_file(prefix: str) -> bytes:
    """Rows of every kind, spread over several chunks of CHUNK rows: good ones; refused by the file's
    own checks (an extra value, ID numbers cut by a spreadsheet); refused by the catalog's (a bad ID
    number, a future date, no name); refused by ingestion across chunks (a name that does not match
    the same number's, a source id repeated with other content); a repeat with the same content."""
    rows = penalty_rows(40, prefix=prefix)
    for row in rows:
        while row[0].endswith("000"):  # a generated number that looks cut (one in ~1,100) would be counted so
            row[0] = new_id_number()
    rows[3] = [*rows[3], "多余的值"]  # a value without a column
    for i, n in ((5, "110101198001011000"), (12, "110101198002022000"), (19, "110101198003033000")):
        rows[i][0] = n  # 15 digits and 000, three times in 40 rows: a column cut by a spreadsheet
    rows[8][0] = "not-a-number"
    rows[9][3] = "2999-01-01"
    rows[10][1] = ""
    rows[25][0], rows[25][1] = rows[2][0], "李四"  # rows[2]'s number with another name, in another chunk
    rows[30] = [*rows[4][:2], rows[4][2], rows[4][3], rows[4][4], "和市监罚〔2026〕X号", *rows[4][6:]]  # rows[4]'s id, other content
    rows[33] = list(rows[6])  # rows[6] again, the same content
    return csv_bytes(ZH_HEADER, rows)


class _Counting(prepare.HelperPreparer):
    started: list[_Counting] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.answers = 0
        _Counting.started.append(self)

    def answer(self) -> prepare.ChunkPlan:
        plan = super().answer()
        self.answers += 1
        return plan


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> type[_Counting]:
    _Counting.started = []
    monkeypatch.setattr(prepare, "HelperPreparer", _Counting)
    return _Counting


def _job(db: Any, vault: Vault, dept: Any, data: bytes, name: str = "f.csv") -> int:
    with db.session() as s:
        return service.create_job(s, vault=vault, department=DepartmentRef(id=dept.id, code=dept.code),
                                  item_code="admin_penalty", filename=name, data=data, actor=SYSTEM).id


def _state(session: Any, job_id: int, dept_id: int) -> tuple[Any, ...]:
    """What a job left, in terms that do not depend on the department or the run."""
    job = session.get(service.ImportJob, job_id)
    counts = (job.status, job.rows_total, job.rows_done, job.created, job.updated, job.unchanged, job.rejected)
    errors = sorted((e.row_number, e.field, e.code, e.header, e.message) for e in session.scalars(
        select(ImportRowError).where(ImportRowError.job_id == job_id)))
    records = sorted((r.source_id, r.subject_id, r.severity, r.decided_at, r.display_until, r.status, r.revision,
                      tuple(sorted(r.fields.items()))) for r in session.scalars(
        select(Record).where(Record.department_id == dept_id)))
    rejections = sorted((r.source_id or "", r.code, r.field, r.codes, r.channel) for r in session.scalars(
        select(Rejection).where(Rejection.department_id == dept_id)))
    return counts, errors, records, rejections


def test_the_helper_prepares_a_file_as_the_runner_does(db, vault, world, session, catalog_loaded,  # type: ignore[no-untyped-def]
                                                        counting, caplog) -> None:
    data = _mixed_file("M")
    here = runner.run_job(db, vault, _job(db, vault, world.dept_a, data), chunk_size=CHUNK, helper=False)
    assert not counting.started
    caplog.set_level(logging.WARNING, logger="xinyong.imports")
    there = runner.run_job(db, vault, jid := _job(db, vault, world.dept_b, data), chunk_size=CHUNK, helper=True)
    [helper] = counting.started
    assert helper.answers == 5  # 40 rows: the first chunk prepared in the runner, the other five by the helper
    assert "helper" not in caplog.text
    assert here is not None and there is not None and here.status == there.status == "done"
    a = _state(session, here.job_id, world.dept_a.id)
    b = _state(session, jid, world.dept_b.id)
    assert a == b
    counts, errors, records, rejections = b
    assert counts == ("done", 40, 40, 30, 0, 1, 9)
    assert {(row, code) for row, _f, code, _h, _m in errors} == {
        (5, "extra_value"), (7, "id_stored_as_number"), (14, "id_stored_as_number"), (21, "id_stored_as_number"),
        (10, "invalid_id_number"), (11, "future_date"), (12, "missing"), (27, "name_mismatch"),
        (32, "duplicate_in_batch")}  # in the report by the row numbers of the file (header: row 1)
    assert len(records) == 30 and len(rejections) == 9
    assert session.get(ImportFile, jid) is None  # the upload dropped once done, as ever


def test_a_resumed_job_with_the_helper_ends_as_without(db, vault, world, session, catalog_loaded,  # type: ignore[no-untyped-def]
                                                        counting) -> None:
    """Interrupted after two chunks, then resumed: with the helper (which starts from the fourth
    chunk, the third prepared in the runner, and knows the source ids already done) as without."""
    data = _mixed_file("R")

    def stop(p: runner.Progress) -> None:
        if p.rows_done == 2 * CHUNK:
            raise RuntimeError("the server was restarted")

    jobs = {}
    for dept, helper in ((world.dept_a, False), (world.dept_b, True)):
        jid = jobs[dept.id] = _job(db, vault, dept, data)
        first = runner.run_job(db, vault, jid, chunk_size=CHUNK, helper=helper, on_progress=stop)
        assert first is not None and first.status == "interrupted" and first.rows_done == 2 * CHUNK
        with db.session() as s:
            service.resume_job(s, job=service.get_job(s, job_id=jid, department_id=dept.id), actor=SYSTEM)
        counting.started.clear()
        rest = runner.run_job(db, vault, jid, chunk_size=CHUNK, helper=helper)
        assert rest is not None and rest.status == "done"
    [helper] = counting.started
    assert helper.answers == 3  # the chunks from row 22
    a = _state(session, jobs[world.dept_a.id], world.dept_a.id)
    assert a == _state(session, jobs[world.dept_b.id], world.dept_b.id)
    counts, errors, _records, _rejections = a
    assert counts == ("done", 40, 40, 30, 0, 1, 9)
    # rows[4]'s source id again with other content, after a resume: refused naming its first row (row
    # 6), as a straight run names it (tests/imports/test_resume_same_as_straight.py)
    assert [m for row, _f, code, _h, m in errors if code == "duplicate_in_batch"] == [
        "来源编号与第6行重复而内容不同（同一文件中一个来源编号只能对应一种内容） / source_id repeats row 6 with other "
        "content (in one file a source_id has one content)"]


def test_a_helper_that_dies_mid_way_is_done_without(db, vault, world, session, catalog_loaded,  # type: ignore[no-untyped-def]
                                                     counting, caplog) -> None:
    data = _mixed_file("K")
    whole = runner.run_job(db, vault, _job(db, vault, world.dept_a, data), chunk_size=CHUNK, helper=False)
    caplog.set_level(logging.WARNING, logger="xinyong.imports")

    def kill_helper(p: runner.Progress) -> None:
        if p.rows_done == 2 * CHUNK:
            pid = counting.started[0].pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)

    jid = _job(db, vault, world.dept_b, data)
    p = runner.run_job(db, vault, jid, chunk_size=CHUNK, helper=True, on_progress=kill_helper)
    assert p is not None and p.status == "done"
    assert "the helper process failed" in caplog.text and "the runner carries on alone" in caplog.text
    assert whole is not None
    assert _state(session, whole.job_id, world.dept_a.id) == _state(session, jid, world.dept_b.id)


def test_no_helper_to_be_had_changes_nothing(db, vault, world, session, catalog_loaded, monkeypatch,  # type: ignore[no-untyped-def]
                                             caplog) -> None:
    class Unavailable:
        def __init__(self, *_a: Any, **_k: Any) -> None:
            raise OSError("no fork server here")

    monkeypatch.setattr(prepare, "HelperPreparer", Unavailable)
    caplog.set_level(logging.WARNING, logger="xinyong.imports")
    data = csv_bytes(ZH_HEADER, penalty_rows(30, prefix="U"))
    p = runner.run_job(db, vault, _job(db, vault, world.dept_a, data), chunk_size=CHUNK, helper=True)
    assert p is not None and (p.status, p.rows_done, p.created) == ("done", 30, 30)
    assert "no fork server here" in caplog.text


def test_a_helper_that_cannot_read_the_file_leaves_it_to_the_runner(db, vault, world, catalog_loaded,  # type: ignore[no-untyped-def]
                                                                     monkeypatch, counting) -> None:
    """The file is refused by the runner's own reading, as without a helper (the helper's answer,
    which says only its exception's name, is not waited for)."""
    monkeypatch.setattr("xinyong.imports.parsers.MAX_ROWS", 5)
    data = csv_bytes(ZH_HEADER, penalty_rows(20, prefix="T"))
    p = runner.run_job(db, vault, _job(db, vault, world.dept_a, data), chunk_size=CHUNK, helper=True)
    assert p is not None and p.status == "failed" and p.error_code == "too_many_rows"


def test_the_helper_setting() -> None:
    big, small = b"x" * prepare.HELPER_MIN_BYTES, b"x" * (prepare.HELPER_MIN_BYTES - 1)
    assert prepare.helper_wanted(big, "auto", cpus=2) and prepare.helper_wanted(big, " AUTO ", cpus=8)
    assert not prepare.helper_wanted(small, "auto", cpus=2)  # one or two chunks: not worth a process
    assert not prepare.helper_wanted(big, "auto", cpus=1)  # one core: nothing to run at once
    assert prepare.helper_wanted(small, "on", cpus=1) and not prepare.helper_wanted(big, "off", cpus=8)
    assert not prepare.helper_wanted(big, "0", cpus=8) and prepare.helper_wanted(b"", "1", cpus=1)


def test_a_misspelt_helper_setting_is_auto_and_said(caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.WARNING, logger="xinyong.imports")
    big = b"x" * prepare.HELPER_MIN_BYTES
    assert prepare.helper_wanted(big, "of", cpus=2) and not prepare.helper_wanted(big, "of", cpus=1)
    assert "XINYONG_IMPORT_HELPER='of' is not auto, on or off: taken as auto" in caplog.text
    caplog.clear()
    assert prepare.helper_wanted(big, "", cpus=2) and not caplog.text


def test_a_helper_that_outlives_its_kill_does_not_end_the_job_in_an_error() -> None:
    """One stuck in the kernel survives even SIGKILL for a while: stopping it must not raise (the
    job's own outcome — done, failed, interrupted — is what the runner records next)."""

    class Stuck:
        pid, killed = 123, 0

        def is_alive(self) -> bool:
            return True

        def join(self, _timeout: float) -> None:
            pass

        def kill(self) -> None:
            self.killed += 1

        def close(self) -> None:
            raise ValueError("Cannot close a process while it is still running")

    class Conn:
        def send(self, _obj: object) -> None:
            raise BrokenPipeError

        def close(self) -> None:
            pass

    helper = object.__new__(prepare.HelperPreparer)
    helper._process, helper._conn = Stuck(), Conn()  # type: ignore[assignment]
    helper.close()
    assert helper._process.killed == 1  # type: ignore[attr-defined]


def test_items_cross_to_the_helper_unchanged(session, catalog_loaded) -> None:  # type: ignore[no-untyped-def]
    for code, item in current_items(session).items():
        again = item_from_data(*item_to_data(item))
        assert (again.id, again.version, again.spec) == (item.id, item.version, item.spec), code
        assert [c[0] for c in again.spec.checkers] == [c[0] for c in item.spec.checkers]


def test_a_packed_batch_is_the_batch_checked_here(session, world, catalog_loaded) -> None:  # type: ignore[no-untyped-def]
    items = current_items(session)
    dept = DepartmentRef(id=world.dept_a.id, code=world.dept_a.code)
    number = new_id_number(born=date(1980, 5, 6))
    records: list[Any] = [
        {"item": "admin_penalty", "id_number": number, "name": "王五", "source_id": "P1", "decided_at": "2026-01-02",
         "severity": "general", "fields": {"decision_no": "和市监罚〔2026〕1号", "violation": "无证经营",
                                           "penalty_type": "罚款", "amount": "1,200"}},
        {"item": "volunteer_service", "id_number": number.lower(), "name": "王五", "source_id": "P2",
         "decided_at": "2025-12-31", "fields": {"organisation": "和平区志愿者协会", "hours": 12}},
        {"item": "admin_penalty", "id_number": "bad", "name": "", "source_id": "P3", "decided_at": "2026-02-30"},
        "not a record",
        {"item": "honor", "id_number": new_id_number(), "name": "赵六", "source_id": "P4", "decided_at": "2026-03-01",
         "fields": {"title": "优秀志愿者", "level": "city", "awarded_by": "和平区文明办"}},
    ]
    today, sent = date(2026, 11, 28), date(2026, 11, 20)
    vault = Vault(KeyRing.generate())
    here = check_batch(records, items=items, department=dept, vault=vault, today=today, sent_on=sent)
    outcomes, prepared = check_records(records, items=items, department=dept, today=today, sent_on=sent)
    there = checked_from_packed(records, department=dept, today=today, sent_on=sent,
                                refused=[(o.index, o.errors) for o in outcomes if o.errors],
                                packed=pack_prepared(prepared), items=items, vault=vault)
    assert (there.today, there.sent_on) == (here.today, here.sent_on) == (today, sent)
    assert [(o.index, o.status, o.errors) for o in there.outcomes] == [(o.index, o.status, o.errors)
                                                                      for o in here.outcomes]
    assert [o.index for o in here.outcomes if o.errors] == [2, 3]
    assert there.prepared == here.prepared and len(here.prepared) == 3
    assert here.prepared[0].bidx == here.prepared[1].bidx != ""  # the same person, however the number was typed


def test_a_helper_that_stops_answering_is_done_without(db, vault, world, session, catalog_loaded,  # type: ignore[no-untyped-def]
                                                        counting, caplog, monkeypatch) -> None:
    """A helper alive but not answering (stopped, stuck) is not waited for for ever: the runner's wait
    keeps the job's heartbeat fresh, so the job could never be taken over or resumed. After its
    patience, the runner drops the helper and prepares the rest itself."""
    data = _mixed_file("W")
    whole = runner.run_job(db, vault, _job(db, vault, world.dept_a, data), chunk_size=CHUNK, helper=False)
    monkeypatch.setattr(runner, "HEARTBEAT_SECONDS", 0.2)  # the wait polls every 0.1 s
    monkeypatch.setattr(runner._Preparation, "PATIENCE", 1.0)
    caplog.set_level(logging.WARNING, logger="xinyong.imports")

    def stop_helper(p: runner.Progress) -> None:
        if p.rows_done == CHUNK:
            pid = counting.started[0].pid
            assert pid is not None
            os.kill(pid, signal.SIGSTOP)

    jid = _job(db, vault, world.dept_b, data)
    done: list[Any] = []
    t = threading.Thread(target=lambda: done.append(runner.run_job(db, vault, jid, chunk_size=CHUNK, helper=True,
                                                                   on_progress=stop_helper)), daemon=True)
    t.start()
    t.join(30)
    waiting = t.is_alive()
    if waiting:  # let the runner go on (EOF once killed) before failing
        os.kill(counting.started[0].pid, signal.SIGKILL)  # type: ignore[arg-type]
        t.join(30)
    assert not waiting, "the runner waited for ever for a stopped helper"
    [p] = done
    assert p is not None and p.status == "done"
    assert "the helper process failed" in caplog.text and "not answered" in caplog.text
    assert whole is not None
    assert _state(session, whole.job_id, world.dept_a.id) == _state(session, jid, world.dept_b.id)


def test_ctrl_c_is_left_to_the_runner(session, world, catalog_loaded) -> None:  # type: ignore[no-untyped-def]
    """Ctrl-C at a terminal signals the whole process group, the helper too: the runner decides what it
    means (an interrupted job, its helper stopped), so the helper neither dies of it nor prints a
    Python traceback on the terminal (the command line prints one clean line)."""
    item = current_items(session)["admin_penalty"]
    dept = DepartmentRef(id=world.dept_a.id, code=world.dept_a.code)
    data = csv_bytes(ZH_HEADER, penalty_rows(20, prefix="I"))
    today = date(2026, 11, 28)
    helper = prepare.HelperPreparer(data, item, dept, wait=lambda: None, every=0.1)
    try:
        helper.ask(0, CHUNK, today, None)
        assert helper.answer().start == 0
        assert helper.pid is not None
        os.kill(helper.pid, signal.SIGINT)
        time.sleep(0.3)  # the helper waits for its next ask meanwhile
        helper.ask(CHUNK, CHUNK, today, None)
        assert helper.answer().start == CHUNK
    finally:
        helper.close()


def test_a_helper_that_cannot_start_leaves_no_pipe_open(monkeypatch, session, world, catalog_loaded) -> None:  # type: ignore[no-untyped-def]
    closed: list[str] = []
    real_pipe = prepare._fork_server().Pipe

    def pipe(duplex: bool = True):  # type: ignore[no-untyped-def]
        ours, child = real_pipe(duplex=duplex)
        for name, conn in (("ours", ours), ("child", child)):
            real_close = conn.close
            conn.close = lambda real_close=real_close, name=name: (closed.append(name), real_close())[1]
        return ours, child

    def no_start(self) -> None:  # type: ignore[no-untyped-def]
        raise OSError("fork server unavailable")

    monkeypatch.setattr(prepare._fork_server(), "Pipe", pipe)
    monkeypatch.setattr(prepare._fork_server().Process, "start", no_start)
    item = current_items(session)["admin_penalty"]
    with pytest.raises(OSError, match="fork server unavailable"):
        prepare.HelperPreparer(b"", item, DepartmentRef(id=world.dept_a.id, code=world.dept_a.code),
                               wait=lambda: None, every=1.0)
    assert sorted(closed) == ["child", "ours"]


@pytest.mark.parametrize("helper", [False, True])
def test_a_file_row_under_another_items_source_id_is_rejected(db, vault, world, session, catalog_loaded,  # type: ignore[no-untyped-def]
                                                              helper) -> None:
    """A source_id keeps its item on the file path too, prepared in the runner or in the helper: a
    penalty row under the source_id of the department's licence is rejected (item_changed, field
    item, in the job's report and the data quality's rejections), the licence left as it was."""
    from xinyong.records.service import ingest

    dept = DepartmentRef(id=world.dept_a.id, code=world.dept_a.code)
    rows = penalty_rows(3 * CHUNK, prefix="IC")
    idn, name = rows[0][0], rows[0][1]
    with db.session() as s:
        [out] = ingest(s, vault=vault, department=dept, actor=SYSTEM, records=[{
            "item": "admin_license", "id_number": idn, "name": name, "source_id": "IC15", "decided_at": "2026-03-05",
            "fields": {"license_no": "JY2026001", "license_type": "普通", "content": "食品经营许可"}}])
        assert out.status == "created"
        licence_id = out.record_id
    job = runner.run_job(db, vault, jid := _job(db, vault, world.dept_a, csv_bytes(ZH_HEADER, rows)),
                         chunk_size=CHUNK, helper=helper)
    assert job is not None and job.status == "done"
    got = session.get(service.ImportJob, jid)
    assert (got.created, got.updated, got.rejected) == (3 * CHUNK - 1, 0, 1)
    [err] = session.scalars(select(ImportRowError).where(ImportRowError.job_id == jid)).all()
    assert (err.row_number, err.field, err.code) == (17, "item", "item_changed")  # IC15: the 16th row, row 17
    licence = session.get(Record, licence_id)
    assert (licence.item_code, licence.revision) == ("admin_license", 1)
    assert session.scalar(select(Rejection.code).where(Rejection.department_id == world.dept_a.id,
                                                       Rejection.source_id == "IC15")) == "item_changed"


@pytest.mark.parametrize("resumed", [False, True])
def test_a_repeat_of_another_items_source_id_is_item_changed_after_a_resume_too(  # type: ignore[no-untyped-def]
        db, vault, world, session, catalog_loaded, resumed) -> None:
    """Two rows of a file under the source_id of the department's licence, in its first and its third
    chunk: both are rejected item_changed, whether the job ran at once or was interrupted between
    them and resumed (the record of the other item stands for no row of this file: a first row
    refused does not count, as docs/imports.md says)."""
    from xinyong.records.service import ingest

    dept = DepartmentRef(id=world.dept_a.id, code=world.dept_a.code)
    rows = penalty_rows(3 * CHUNK, prefix="RC")
    rows[2 * CHUNK + 1] = [*rows[1][:2], "RC1", *rows[2 * CHUNK + 1][3:]]  # the same id and person, later
    with db.session() as s:
        [out] = ingest(s, vault=vault, department=dept, actor=SYSTEM, records=[{
            "item": "admin_license", "id_number": rows[1][0], "name": rows[1][1], "source_id": "RC1",
            "decided_at": "2026-03-05", "fields": {"license_no": "JY2026002", "license_type": "普通",
                                                   "content": "食品经营许可"}}])
        assert out.status == "created"

    def stop(p: runner.Progress) -> None:
        if resumed and p.rows_done == CHUNK:
            raise RuntimeError("the server was restarted")

    jid = _job(db, vault, world.dept_a, csv_bytes(ZH_HEADER, rows))
    first = runner.run_job(db, vault, jid, chunk_size=CHUNK, helper=False, on_progress=stop)
    if resumed:
        assert first is not None and first.status == "interrupted"
        with db.session() as s:
            service.resume_job(s, job=service.get_job(s, job_id=jid, department_id=world.dept_a.id), actor=SYSTEM)
        first = runner.run_job(db, vault, jid, chunk_size=CHUNK, helper=False)
    assert first is not None and first.status == "done"
    errors = sorted((e.row_number, e.field, e.code) for e in session.scalars(
        select(ImportRowError).where(ImportRowError.job_id == jid)))
    assert errors == [(3, "item", "item_changed"), (2 * CHUNK + 3, "item", "item_changed")]
