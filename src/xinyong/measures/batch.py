"""Batch comparison (名单比对): a department's CSV of ID numbers (and optionally names) checked in one
scenario; a job produces a result CSV with each row's masked ID number, grade, lists and measures, or
why the row's ID number is invalid.

Built on the imports' infrastructure: content sniffing and encodings (``imports.parsers.sniff``),
sealed uploads kept only until the job ends, the claim/heartbeat pattern and the thread runner.
Each chunk is one transaction: its register rows (one per row, ``channel = batch``), one audit
entry for the chunk, and the job's counts; the result file is sealed and stored when the job ends.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session

from xinyong import bulk, clock
from xinyong.audit.service import Actor, record, record_many
from xinyong.auth.models import ApiKey, Department, User
from xinyong.auth.permissions import allowed
from xinyong.db import utcnow
from xinyong.imports.parsers import (
    NUL_HINT,
    FileError,
    csv_delimiter,
    in_scientific_notation,
    norm_header,
    nul_line,
    sniff,
    unmark_text,
)
from xinyong.imports.prepare import cut_by_spreadsheet
from xinyong.imports.service import (
    STALE_SECONDS,
    UPLOAD_KEEP_DAYS,
    csv_cell,
    expire_uploads,
    sanitise_filename,
    shown_code,
    too_large,
)
from xinyong.imports.service import effective_status as imports_effective_status
from xinyong.measures import service
from xinyong.measures.models import Check, CompareFile, CompareJob
from xinyong.privacy import identity
from xinyong.privacy.masking import mask_id_number, mask_name
from xinyong.privacy.vault import Vault
from xinyong.subjects.service import names_match

log = logging.getLogger("xinyong.checks")

# Rows per transaction. 20,000 answered ~9 % more rows/s than 5,000 (fewer commits and progress updates);
# SQLite's IN list stays under its 32,766 bound parameters, PostgreSQL's is one array.
CHUNK_SIZE = 20_000
MAX_ROWS = 500_000
FILE_TABLE = "compare_files"
# compared as imports compare headers (parsers.norm_header): width, case, spaces (姓　名) and a "*" aside
ID_HEADERS = {norm_header(h) for h in ("身份证号码", "身份证号", "公民身份号码", "证件号码", "id_number", "idnumber")}
NAME_HEADERS = {norm_header(h) for h in ("姓名", "name")}
RESULT_HEADER = ("行号 row", "身份证号码（脱敏） id_number_masked", "姓名（脱敏） name_masked",
                 "姓名一致 name_matches", "结果 result", "信用等级 grade", "名单 lists", "措施 measures",
                 "核查编号 check_id", "无效原因 invalid_reason")
_J = CompareJob.__table__
_CHECKS = Check.__table__  # the register


@dataclass
class Layout:
    id_col: int
    name_col: int | None
    first_row: int  # index of the first data row in the parsed rows
    # the spreadsheet's row number of each parsed row (its CSV record's number, blank records
    # counted), where blank lines (skipped) made them differ from the row's index + 1; None when
    # they do not
    lines: list[int] | None = None
    # the indexes (in the parsed rows) of rows whose CSV broke on their own line: each is refused
    # alone (``malformed_row``), its cells as read leniently (:func:`_lenient`); None in the usual file
    malformed: set[int] | None = None
    # the indexes of rows whose ID number a spreadsheet cut to 15 digits and 000 (in a file of many
    # such numbers: ``imports.prepare.cut_by_spreadsheet``), refused as ``id_stored_as_number``; None
    # in the usual file
    cut: set[int] | None = None

    def row_number(self, i: int) -> int:
        """The spreadsheet's row number of parsed row ``i`` — what the result file and the check id
        name: the number of its CSV record, as a spreadsheet (and docs/imports.md) numbers rows. A
        quoted cell holding a line break does not make a row of its own; a blank line does."""
        return i + 1 if self.lines is None else self.lines[i]


# An ID number a spreadsheet kept as a number: shown as 1.20101E+17, or cut to its first 15 digits and
# 000 (when a file has many such: imports.prepare.cut_by_spreadsheet). The imports' row error of the
# same name says the same.
ID_AS_NUMBER = ("id_stored_as_number",
                "身份证号码被表格软件按数字保存（显示为 1.20101E+17 这样的科学计数法，或只剩前15位、末三位为000），"
                "末尾数字已丢失，未核查：请在 Excel 中将该列设置为“文本”格式、重新填写号码后再另存为 CSV",
                "the ID number was stored as a number by a spreadsheet (shown in scientific notation such as "
                "1.20101E+17, or cut to its first 15 digits and 000), which lost its last digits, so it was not "
                "checked: format the column as text in Excel, enter the numbers again and save as CSV again")
MALFORMED_ROW = ("malformed_row", "此行不是有效的 CSV（引号没有成对，或右引号后紧跟其他字符），未核查",
                 "this row is not valid CSV (an unpaired quote, or text right after a closing quote): not checked")


def _rows(text: str) -> tuple[list[tuple[str, ...]], list[int] | None, set[int]]:
    """The file's non-blank rows, as tuples: a tuple of strings leaves the garbage collector's
    sight once it has survived a collection, a list never does. A job holds up to 500,000 rows for
    its whole run, and every full collection walked all of them (with the rows and the register
    rows' measure codes as lists, collections took up to a quarter of a 200,000-row job's Python
    time in bench/bench_batch.py). Also each row's spreadsheet row number (:meth:`Layout.row_number`),
    unless every row's is its index + 1 (no blank line: the usual file), and the malformed rows.

    A record whose CSV breaks on the line it started on (``1,"李"四``: text after a closing quote;
    a quote never closed on the file's last line) is that row alone: the reader drops the rest of
    the line and goes on with the next one, so nothing after it is merged into it. It is kept as a
    malformed row, refused alone (``malformed_row``). A record that breaks after running over line
    breaks — a quote left open swallowed the lines after it, and where the rows were meant to
    end can no longer be told — refuses the whole file, naming the row and line it starts on and the
    line where it broke (:func:`_open_quote`)."""
    delimiter = csv_delimiter(text)  # as imports decide it: blank and title lines above the header aside
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[tuple[str, ...]] = []
    lines: list[int] = []
    bad: set[int] = set()
    shifted = False
    n = 0  # the spreadsheet's row number of the record just read: blank records are rows too
    start = 1  # the file's line the next record starts on
    physical: list[str] | None = None  # the file's lines, split once a row is malformed
    while True:
        try:
            for r in reader:
                n += 1
                if "".join(r).strip():  # not blank: some cell has more than whitespace
                    shifted = shifted or n != len(rows) + 1
                    rows.append(tuple(r))
                    lines.append(n)
                if reader.line_num != start and _swallowed(r):  # a record over several lines
                    raise _merged(n, start, reader.line_num)
                start = reader.line_num + 1
            break
        except csv.Error as exc:  # the reader goes on with the next line of the file
            n += 1
            end = reader.line_num
            if end != start:  # it ran over line breaks (or read nothing): refuse the file
                raise _open_quote(n, start, end, str(exc)) from None
            if physical is None:
                physical = io.StringIO(text, newline="").readlines()
            shifted = shifted or n != len(rows) + 1
            bad.add(len(rows))
            rows.append(_lenient(physical[end - 1] if end <= len(physical) else "", delimiter))
            lines.append(n)
            start = end + 1
    return rows, (lines if shifted else None), bad


_NEXT_ROW_ID = re.compile(r"[\r\n][^\r\n]*?[0-9]{17}[0-9Xx]")


def _swallowed(cells: Sequence[str]) -> bool:
    """Whether a record that ran over line breaks holds, after a line break inside a cell, what
    looks like an ID number: rows that a stray pair of quotes merged into one cell (``1,"李四`` …
    ``2,王五"``), which the strict reader takes as one valid record. A name or a remark spanning
    two lines holds none."""
    return any(("\n" in c or "\r" in c) and _NEXT_ROW_ID.search(c) for c in cells)


def _merged(row: int, start: int, end: int) -> FileError:
    """The whole file's refusal for a quoted cell over lines ``start``–``end`` that swallowed rows."""
    zh = (f"CSV 格式错误：第{row}行（文件第{start}至{end}行）有一个带引号的单元格跨行，且含有看似其他行的身份证号码："
          f"可能是引号没有成对，其后的行被并入这个单元格；整个文件未核查，请检查该行的引号")
    en = (f"malformed CSV: a quoted cell in row {row} (lines {start} to {end} of the file) runs over line breaks and "
          f"holds what looks like another row's ID number: an unpaired quote probably merged the rows after it into "
          f"that cell; no row was checked: check the quotes in that row")
    return _malformed_file(zh, en, row, start, end)


def _malformed_file(zh: str, en: str, row: int, start: int, end: int) -> FileError:
    return FileError("malformed_csv", zh, en, errors=[
        {"field": "file", "code": "malformed_csv", "message": f"{zh} / {en}", "row": row, "line": start,
         "found_at_line": end}])


def _lenient(line: str, delimiter: str) -> tuple[str, ...]:
    """A malformed line's cells as a lenient reader takes them — only to show the row masked in the
    result file (its ID number and name are never checked)."""
    line = line.rstrip("\r\n")
    try:
        cells = next(csv.reader([line], delimiter=delimiter, strict=False), [])
    except csv.Error:
        cells = line.split(delimiter)
    return tuple(cells) or ("",)


def _open_quote(row: int, start: int, end: int, detail: str) -> FileError:
    """The whole file's refusal for a quoted cell that runs over line breaks and never ends properly."""
    if "end of data" in detail:
        zh_how, en_how = "直到文件末尾都没有结束", "is never closed (it runs to the end of the file)"
    else:
        zh_how, en_how = (f"跨行后在文件第{end}行结束处有误（{detail[:100]}）",
                          f"runs over line breaks and breaks at line {end} ({detail[:100]})")
    zh = (f"CSV 格式错误：第{row}行（文件第{start}行）开始的带引号单元格{zh_how}；其后各行的分界无法确定，"
          f"整个文件未核查，请检查该行的引号")
    en = (f"malformed CSV: the quoted cell starting in row {row} (line {start} of the file) {en_how}; the "
          f"rows after it cannot be told apart, so no row was checked: check the quotes in that row")
    return _malformed_file(zh, en, row, start, end)


HEADER_SEARCH_ROWS = 5  # a title line or two above the header ("2026年招录人员名单") is common


def layout_of(rows: Sequence[Sequence[str]]) -> Layout:
    """A header row naming the ID-number column (and a name column) among the first rows — title
    lines above it are not data —, or no header: column 1 holds ID numbers and column 2, if any,
    names."""
    for k, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        head = [norm_header(c) for c in row]
        id_col = next((i for i, c in enumerate(head) if c in ID_HEADERS), None)
        if id_col is not None:
            name_col = next((i for i, c in enumerate(head) if c in NAME_HEADERS), None)
            return Layout(id_col, name_col, k + 1)
    first = rows[0][0].strip() if rows[0] else ""
    if first and not any(ch.isdigit() for ch in first):
        raise FileError("missing_columns", "表头中没有“身份证号码”列", "the header has no 'id_number' (身份证号码) column")
    return Layout(0, 1 if len(rows[0]) > 1 else None, 0)


_CSV_ONLY = ("unsupported_format", "名单比对只接受 CSV 文件", "batch comparison takes CSV files only")


def parse(data: bytes) -> tuple[str | None, Layout, list[tuple[str, ...]]]:
    try:
        sniffed = sniff(data)
    except FileError as exc:
        if exc.code in ("unsupported_file", "bad_xlsx"):  # the imports' message offers XLSX, which this does not take
            line = nul_line(data) if exc.code == "unsupported_file" else None
            if line is not None:  # a CSV but for a NUL byte: say so, and where
                code, zh, en = _CSV_ONLY
                raise FileError(code, f"{zh}：{NUL_HINT[0].format(line=line)}", f"{en}: {NUL_HINT[1].format(line=line)}",
                                ) from exc
            raise FileError(*_CSV_ONLY) from exc
        raise
    if sniffed.format != "csv" or sniffed.text is None:
        raise FileError(*_CSV_ONLY)
    rows, lines, malformed = _rows(sniffed.text)
    if not rows:
        raise FileError("empty_file", "文件为空", "the file is empty")
    lay = layout_of(rows)
    lay.lines, lay.malformed = lines, (malformed or None)
    if len(rows) <= lay.first_row:
        raise FileError("empty_file", "文件中没有数据行（只有表头）", "the file has a header but no rows")
    if len(rows) - lay.first_row > MAX_ROWS:
        raise FileError("too_many_rows", f"文件最多 {MAX_ROWS} 行", f"a file holds at most {MAX_ROWS} rows")
    id_col, first = lay.id_col, lay.first_row
    lay.cut = cut_by_spreadsheet(((i, rows[i][id_col]) for i in range(first, len(rows)) if id_col < len(rows[i])),
                                 len(rows) - first) or None
    return sniffed.encoding, lay, rows


def create_job(session: Session, *, vault: Vault, caller: service.Caller, scenario: str, filename: str | None,
               data: bytes, max_bytes: int | None = None) -> CompareJob:
    """Check the scenario and the file, register a pending job with the sealed bytes. Writes nothing on refusal."""
    if max_bytes is not None and len(data) > max_bytes:
        raise too_large(len(data), max_bytes)
    rules = service.rules_for(session)
    if scenario not in rules.scenarios:
        raise service.unknown_scenario(scenario, list(rules.scenarios))
    encoding, lay, rows = parse(data)
    now = utcnow()
    job = CompareJob(department_id=caller.department_id, scenario=scenario, filename=sanitise_filename(filename),
                     sha256=vault.cipher.file_digest(data), size=len(data), encoding=encoding, status="pending",
                     rows_total=len(rows) - lay.first_row, rows_done=0, matched=0, unknown=0, invalid=0,
                     actor_type=caller.actor.type, actor_id=caller.actor.id, created_by=caller.actor.label,
                     attempts=0, created_at=now, heartbeat_at=now)
    session.add(job)
    session.flush()
    blob, kid = vault.seal_blob(data, FILE_TABLE, "upload", str(job.id))
    session.add(CompareFile(job_id=job.id, kind="upload", key_id=kid, content=blob))
    record(session, actor=caller.actor, action="checks.batch_create", object_type="compare_job", object_id=job.id,
           details={"scenario": scenario, "filename": job.filename, "sha256": job.sha256, "size": job.size,
                    "rows": job.rows_total})
    session.flush()
    return job


def record_refusal(session: Session, *, actor: Actor, scenario: str | None, filename: str | None, size: int,
                   code: str, via: str | None = None, job_id: int | None = None) -> None:
    """Audit a refused batch (``checks.batch_create``, ``denied``, its code). ``via``: ``cli`` for
    ``xinyong checks batch``'s; ``job_id``: the job the CLI created but could not run (``not_claimed``)."""
    details: dict[str, Any] = {"scenario": shown_code(str(scenario or "")), "filename": sanitise_filename(filename),
                               "size": size, "code": code}
    if via is not None:
        details["via"] = via
    record(session, actor=actor, action="checks.batch_create", object_type="compare_job", object_id=job_id,
           outcome="denied", details=details)


def resume(session: Session, *, job: CompareJob, department_id: int, actor: Actor) -> None:
    """The rules of running an interrupted job again: only an interrupted job, and only by a caller of
    its own department (a key or an officer: the rows it answers are their checks; the credit office
    reads every job but checks as none) — audited with who runs it and how the job stood. The caller
    then starts the runner as ``actor``."""
    if job.department_id != department_id:
        raise service.MeasuresError(404, "not_found", "没有这个比对任务", "no such comparison job")
    if effective_status(job) != "interrupted":
        raise service.MeasuresError(409, "not_interrupted", "只能重新运行已中断的任务",
                                    "only an interrupted job can be run again")
    if session.scalar(select(CompareFile.job_id).where(CompareFile.job_id == job.id,
                                                       CompareFile.kind == "upload")) is None:
        # left unfinished too long: the daily upkeep deleted it (``file_expired``)
        raise service.MeasuresError(409, "file_missing", "已找不到该任务的文件，请重新上传",
                                    "the job's file is gone; upload it again")
    record(session, actor=actor, action="checks.batch_resume", object_type="compare_job", object_id=job.id,
           details={"attempt": job.attempts + 1, "created_by": job.created_by, "rows_done": job.rows_done,
                    "previous_error": job.error_code})
    # waiting for its runner, from its first row (as ``claim`` then starts it): the 202 and a look
    # meanwhile show the job resumed, not still interrupted; a second resume is refused as not interrupted
    job.status, job.runner, job.heartbeat_at = "pending", None, utcnow()
    job.rows_done = job.matched = job.unknown = job.invalid = 0
    job.error_code = job.error_message = None
    session.flush()


def get_job(session: Session, *, job_id: int, department_id: int | None, any_department: bool) -> CompareJob:
    job = session.get(CompareJob, job_id)
    if job is None or (not any_department and job.department_id != department_id):
        raise service.MeasuresError(404, "not_found", "没有这个比对任务", "no such comparison job")
    return job


def record_read(session: Session, *, actor: Actor, job: CompareJob, via: str) -> None:
    """Audit a successful look at a job (``checks.batch_read``): how it stood, in counts (``via``:
    ``api``, ``page`` or ``poll``). The result file's download is ``checks.batch_result``."""
    record(session, actor=actor, action="checks.batch_read", object_type="compare_job", object_id=job.id,
           details={"status": effective_status(job), "rows_done": job.rows_done, "rows_total": job.rows_total,
                    "matched": job.matched, "unknown": job.unknown, "invalid": job.invalid, "via": via})


def record_list(session: Session, *, actor: Actor, jobs: Sequence[CompareJob], via: str) -> None:
    """Audit a list of jobs read (``checks.batch_list``): how many, and which."""
    record(session, actor=actor, action="checks.batch_list", object_type="compare_job",
           details={"count": len(jobs), "jobs": [j.id for j in jobs], "via": via})


def list_jobs(session: Session, *, department_id: int | None, any_department: bool, limit: int = 50) -> list[CompareJob]:
    q = select(CompareJob).order_by(CompareJob.id.desc()).limit(limit)
    if not any_department:
        q = q.where(CompareJob.department_id == department_id)
    return list(session.scalars(q))


def expire_files(session: Session, *, actor: Actor, now: Any = None) -> int:
    """The uploads (raw ID numbers) of comparison jobs left unfinished for
    ``imports.service.UPLOAD_KEEP_DAYS`` days are deleted, as the imports' are (the daily upkeep);
    the result files hold masked identities only and stay for download. Audited
    (``checks.batch_expire_files``)."""
    ids = expire_uploads(session, jobs=_J, files=CompareFile.__table__, now=now or utcnow(),
                         files_where=(CompareFile.__table__.c.kind == "upload",))
    record_many(session, actor=actor, action="checks.batch_expire_files", object_type="compare_job",
                items=[(jid, {"days": UPLOAD_KEEP_DAYS}) for jid in ids])
    return len(ids)


def effective_status(job: CompareJob) -> str:
    """The imports' rule: pending or running with a stale heartbeat shows as ``interrupted``."""
    return imports_effective_status(job)  # type: ignore[arg-type]  # same status and heartbeat fields


def result_csv(session: Session, *, vault: Vault, job: CompareJob, actor: Actor) -> bytes | None:
    stored = bulk.sealed_blob(session, CompareFile.__table__, {"job_id": job.id, "kind": "result"})
    if stored is None:
        return None
    record(session, actor=actor, action="checks.batch_result", object_type="compare_job", object_id=job.id,
           details={"rows": job.rows_total})
    return vault.reveal_blob(stored[0], FILE_TABLE, "result", str(job.id), stored[1])


def reseal_files(session: Session, *, vault: Vault) -> int:
    """Key rotation: re-encrypt every sealed file of ``compare_files`` — results (the downloads) and the
    uploads kept by unfinished jobs — not under the active key. Returns how many."""
    return bulk.reseal_blobs(session, vault=vault, table=CompareFile.__table__, key=("job_id", "kind"),
                             sealed_as=lambda k: (FILE_TABLE, k["kind"], str(k["job_id"])))


def sealed_key_counts(session: Session, active: str) -> dict[str, int]:
    """Key rotation: how many sealed files are under each key other than ``active``."""
    return bulk.sealed_key_counts(session, CompareFile.__table__, active)


# ---- the runner -------------------------------------------------------------------------------------

class LostJob(RuntimeError):
    pass


# ---- who the job runs as ------------------------------------------------------------------------------
#
# A job checks as a caller of its department — the key or officer that created it, or the one that
# resumed it — and each chunk's register rows are that caller's checks. The caller is held to the
# rules of a single check at every chunk: a revoked key, a disabled officer (or one moved out of the
# department) or an inactive department stops the job at its next chunk.

class Stopped(RuntimeError):
    """The job's caller may no longer check for its department: the job ends with ``status`` (``failed``
    for an inactive department, as at the start; ``interrupted`` when another caller of the department
    may run it again) and this code and message."""

    def __init__(self, status: str, code: str, zh: str, en: str) -> None:
        super().__init__(code)
        self.status, self.code, self.zh, self.en = status, code, zh, en

    @property
    def message(self) -> str:
        return f"{self.zh} / {self.en}"


_AGAIN_ZH, _AGAIN_EN = ("本部门的其他 API 密钥或工作人员可以重新比对，已核查的行保持登记",
                        "another API key or officer of the department can run it again; the rows already "
                        "checked stay registered")
_D, _K, _U = Department.__table__, ApiKey.__table__, User.__table__


def run_actor(job: CompareJob, actor: Actor | None = None) -> Actor:
    """Who a run of ``job`` checks as: ``actor`` (the caller who resumed it), else the job's creator."""
    if actor is None:
        return Actor(type=job.actor_type, id=job.actor_id, label=job.created_by, department_id=job.department_id)
    return Actor(type=actor.type, id=actor.id, label=actor.label, department_id=job.department_id)


def _standing_query(department_id: int, actor: Actor) -> Any:
    """ONE statement, primary-key probes only: the department and the caller's key or user row."""
    ident = int(actor.id) if actor.id is not None and str(actor.id).isdigit() else None
    if actor.type == "apikey" and ident is not None:
        return (select(_D.c.active, _D.c.kind, _K.c.id, _K.c.revoked_at, _K.c.department_id)
                .select_from(_D.outerjoin(_K, _K.c.id == ident)).where(_D.c.id == department_id))
    if actor.type == "user" and ident is not None:
        return (select(_D.c.active, _D.c.kind, _U.c.id, _U.c.active, _U.c.department_id, _U.c.role)
                .select_from(_D.outerjoin(_U, _U.c.id == ident)).where(_D.c.id == department_id))
    return select(_D.c.active, _D.c.kind).where(_D.c.id == department_id)  # the CLI's system actor


def standing(session: Session, department_id: int, actor: Actor) -> Stopped | None:
    """None while ``actor`` may check for the department, else why not (:class:`Stopped`): the rules
    of a single check (``auth.service._key_verdict``, ``measures.api.caller_of``) — a key not revoked
    and of this department, an active officer of this department whose role runs checks, an active
    department."""
    row = session.execute(_standing_query(department_id, actor)).first()
    if row is None or not row[0] or row[1] != "department":
        return Stopped("failed", "department_inactive", "部门不存在或已停用", "the department is missing or inactive")
    if actor.type == "apikey":
        if len(row) < 5 or row[2] is None or row[3] is not None or row[4] != department_id:
            return Stopped("interrupted", "key_revoked", f"运行此任务的 API 密钥已吊销，比对已停止；{_AGAIN_ZH}",
                           f"the API key running this job was revoked and the comparison stopped; {_AGAIN_EN}")
    elif actor.type == "user":
        if len(row) < 6 or row[2] is None or not row[3]:
            return Stopped("interrupted", "user_disabled", f"运行此任务的账户已停用，比对已停止；{_AGAIN_ZH}",
                           f"the account running this job was disabled and the comparison stopped; {_AGAIN_EN}")
        if row[4] != department_id or not allowed(row[5], "checks.run"):
            return Stopped("interrupted", "actor_not_allowed",
                           f"运行此任务的账户已不能为本部门核查，比对已停止；{_AGAIN_ZH}",
                           f"the account running this job may no longer check for the department and the "
                           f"comparison stopped; {_AGAIN_EN}")
    return None


def _guard(job_id: int, token: str) -> Any:
    return and_(_J.c.id == job_id, _J.c.runner == token, _J.c.status == "running")


HEARTBEAT_SECONDS = STALE_SECONDS / 4


class KeepAlive:
    """Keeps a running job's heartbeat fresh from a thread of its own while its chunks are worked on.

    Each chunk's write refreshes the heartbeat too, but one chunk can outlast ``STALE_SECONDS``: on
    the 2-core machine, with the operating system's page cache cold, the first lookup of 20,000 rows
    at 10^6 subjects read its pages from disk for 54 s, and in another run for more than 60 s — the
    job then showed ``interrupted`` while it ran, its client gave up, and a resume would have taken
    it over (the running one stopping at its next write). The lookup holds no write lock, so this
    thread's small update goes through meanwhile. It stops when the job is no longer this runner's."""

    def __init__(self, db: Any, job_id: int, token: str, every: float = HEARTBEAT_SECONDS) -> None:
        self.db, self.job_id, self.token, self.every = db, job_id, token, every
        self.beats = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"compare-{job_id}-heartbeat", daemon=True)

    def __enter__(self) -> KeepAlive:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                with self.db.session() as s:
                    res = s.execute(update(_J).where(_guard(self.job_id, self.token)).values(heartbeat_at=utcnow()))
                if res.rowcount != 1:  # type: ignore[attr-defined]  # taken over or ended
                    return
                self.beats += 1
            except Exception:  # noqa: BLE001 - the next write tells the runner what is wrong
                log.warning("comparison job %s: heartbeat not written", self.job_id, exc_info=True)


def claim(db: Any, job_id: int) -> str | None:
    token = secrets.token_hex(8)
    now = utcnow()
    from datetime import timedelta

    with db.session() as s:
        res = s.execute(update(_J).where(_J.c.id == job_id, or_(
            _J.c.status.in_(("pending", "interrupted")),
            and_(_J.c.status == "running", _J.c.heartbeat_at < now - timedelta(seconds=STALE_SECONDS)),
        )).values(status="running", runner=token, heartbeat_at=now, attempts=_J.c.attempts + 1, rows_done=0,
                  matched=0, unknown=0, invalid=0, started_at=now, error_code=None, error_message=None))
        if res.rowcount != 1:  # type: ignore[attr-defined]
            return None
    return token


# ---- one chunk: prepare (CPU), look up (database), answer (CPU), write (database) ---------------------

def _field(value: str) -> str:
    """One CSV field exactly as ``csv.writer`` writes it (minimal quoting, comma, CRLF)."""
    if "," in value or '"' in value or "\n" in value or "\r" in value:
        return '"' + value.replace('"', '""') + '"'
    return value


def _line(cells: tuple[str, ...]) -> str:
    return ",".join(_field(c) for c in cells) + "\r\n"


HEADER_LINE = _line(RESULT_HEADER)
# (row, masked ID, masked name, name matches, then the cached answer fields, check id, invalid reason)
_INVALID = {code: (_field("invalid 无效") + ",,,", _field(f"{code}: {zh} / {en}"))
            for code, (zh, en) in (*identity.ID_ERRORS.items(), (MALFORMED_ROW[0], MALFORMED_ROW[1:]),
                                   (ID_AS_NUMBER[0], ID_AS_NUMBER[1:]))}


def _second_look(raw: str, today: date, code: str) -> tuple[str | None, str]:
    """An ID number the check refused, as a spreadsheet may have written it: ``'110101…`` or
    ``="110101…"`` (an export that kept it as text, as imports read it: checked without the mark), or
    ``1.20101E+17`` (kept as a number, its digits lost: ``id_stored_as_number``). Else the refusal."""
    s = raw.strip()
    if s[:1] in ("'", "="):
        s = unmark_text(s)
        try:
            return identity.checked_number(s, today), code
        except identity.InvalidIdNumber as exc:
            code = exc.code
    if in_scientific_notation(s):
        return None, ID_AS_NUMBER[0]
    return None, code


@dataclass
class _Prepared:
    """A chunk after the pure-CPU step: per row (row number, blind index or None, masked ID number as
    a CSV field, name or None, invalid code or None), and the chunk's distinct blind indexes, sorted
    (the lookup probes the index in order)."""

    rows: list[tuple[int, str | None, str, str | None, str | None]]
    unique: list[str]


def _prepare(rows: Sequence[Sequence[str]], start: int, end: int, lay: Layout, vault: Vault, today: date) -> _Prepared:
    """Validate and blind-index rows ``start:end`` of the parsed file (numbered as a spreadsheet
    numbers them: :meth:`Layout.row_number`). The raw number lives only in this loop."""
    check, index, invalid_exc = identity.checked_number, vault.cipher.blind_index, identity.InvalidIdNumber
    id_col, name_col, lines, malformed, cut = lay.id_col, lay.name_col, lay.lines, lay.malformed, lay.cut
    out: list[tuple[int, str | None, str, str | None, str | None]] = []
    append = out.append
    for i in range(start, end):
        cells = rows[i]
        n = i + 1 if lines is None else lines[i]  # Layout.row_number, inlined in this per-row loop
        raw = cells[id_col] if id_col < len(cells) else ""
        name = cells[name_col].strip() if name_col is not None and name_col < len(cells) else None
        if malformed is not None and i in malformed:  # its CSV broke: shown masked, not checked
            append((n, None, _field(csv_cell(mask_id_number(raw))), name, MALFORMED_ROW[0]))
            continue
        if cut is not None and i in cut:  # a spreadsheet cut it to 15 digits and 000: another person's, maybe
            append((n, None, _field(csv_cell(mask_id_number(raw))), name, ID_AS_NUMBER[0]))
            continue
        try:
            number = check(raw, today)
        except invalid_exc as exc:
            got, code = _second_look(raw, today, exc.code)
            if got is None:
                append((n, None, _field(csv_cell(mask_id_number(raw))), name, code))
                continue
            number = got
        append((n, index(number, "id_number"), number[:6] + "********" + number[14:], name, None))
    return _Prepared(out, sorted({p[1] for p in out if p[1] is not None}))


# SQLite: one statement and ONE result row (a JSON array), so that the lookup runs in SQLite's C code
# without the GIL from start to end (row-by-row fetching hands the GIL back and forth with the thread
# that answers meanwhile, which stalls both). The blind indexes find the subjects' row ids in the
# unique index (probed in order: the list is sorted), and the rows are then read in row-id order:
# reading them in blind-index order, i.e. at random places of the table, cost ~12 µs a row at 10^6
# subjects against ~9 in row-id order.
_LOOKUP_SQLITE = (
    "WITH k AS MATERIALIZED (SELECT s.id FROM subjects s WHERE s.id_bidx IN (SELECT value FROM json_each(?)) ORDER BY s.id) "
    "SELECT json_group_array(json_array(s.id_bidx, s.id, hex(s.name_cipher), s.key_id, st.grade, st.lists, "
    "st.clean_3y)) FROM k JOIN subjects s ON s.id = k.id LEFT JOIN subject_status st ON st.subject_id = s.id")
# PostgreSQL: the blind indexes as ONE text parameter (psycopg adapts a list of 20,000 strings element by
# element in Python), probed one by one through the unique index (LATERAL … LIMIT 1 keeps the planner
# from hashing the whole subjects table, which at 10^6 subjects took twice as long and both cores),
# and the answer as ONE JSON text, parsed by orjson on the answering thread like SQLite's (20,000
# result rows built by the driver and SQLAlchemy cost the database thread ~2 µs each, with the GIL).
# The subjects found are then sorted by id and their status rows probed in that order, like SQLite's
# row-id order (in blind-index order each probe lands on a random page of the status index): the
# server's CPU a row fell ~7 % (postgres / Python CPU 1.99 → 1.85 over six interleaved runs each).
_LOOKUP_PG = (
    "WITH s AS MATERIALIZED (SELECT s.id_bidx, s.id, s.name_cipher, s.key_id "
    "FROM unnest(string_to_array(%s, ',')) u(b) CROSS JOIN LATERAL (SELECT x.id_bidx, x.id, x.name_cipher, "
    "x.key_id FROM subjects x WHERE x.id_bidx = u.b LIMIT 1) s ORDER BY s.id) "
    "SELECT json_agg(json_build_array(s.id_bidx, s.id, encode(s.name_cipher, 'hex'), s.key_id, st.grade, "
    "st.lists::text, st.clean_3y))::text "
    "FROM s LEFT JOIN LATERAL (SELECT t.grade, t.lists, t.clean_3y FROM subject_status t "
    "WHERE t.subject_id = s.id OFFSET 0) st ON true")


def _lookup(db: Any, unique: list[str]) -> Any:
    """The known subjects among the sorted blind indexes ``unique``, as the database gives them (see
    :func:`_found`), in a read transaction of its own. Runs on the database thread, which should hold
    the GIL as little as possible: the answering thread otherwise makes it wait for the GIL after
    each statement (up to the 5 ms switch interval), so turning the result into a dict is left to
    :func:`_found`, on the answering thread."""
    if not unique:
        return None
    with db.session(write=False) as s:
        conn = s.connection()
        if conn.dialect.name == "sqlite":
            return conn.exec_driver_sql(_LOOKUP_SQLITE, (orjson.dumps(unique).decode(),)).scalar()
        # The planner's estimate for 20,000 probes passes jit_above_cost, and compiling the plan took
        # ~7 ms of each chunk's lookup (EXPLAIN ANALYZE) for expressions that run once a row; the
        # job's pipeline waits on this thread (about 2 % of the job).
        conn.exec_driver_sql("SET LOCAL jit = off")
        return conn.exec_driver_sql(_LOOKUP_PG, (",".join(unique),)).scalar()  # hex digests: no comma inside


def _found(got: Any) -> dict[str, Sequence[Any]]:
    """blind index → (blind index, subject id, name ciphertext, key id, grade, lists as JSON text,
    clean_3y) of what :func:`_lookup` found (grade None: no status row); the rows as they come."""
    if not got:
        return {}
    return {r[0]: r for r in orjson.loads(got)}


class _Answerer:
    """Per job: the rules, the default status, and the answer per distinct status — (grade, lists,
    clean_3y) → (grade, the result file's grade/lists/measures fields, measure codes) — computed once:
    a job's rows share a handful of statuses."""

    MEMO_MAX = 100_000  # distinct listed statuses differ by their "since" dates

    def __init__(self, session: Session, scenario: str, today: date | None) -> None:
        self.rules = service.rules_for(session)
        self.scenario = scenario
        self.default = service.default_status(session, today=today)
        self._memo: dict[tuple[Any, ...], tuple[str, str, tuple[str, ...]]] = {}

    def answer(self, grade: str | None, lists: str | None, clean: Any) -> tuple[str, str, tuple[str, ...]]:
        key = (grade, lists, clean)
        hit = self._memo.get(key)
        if hit is None:
            if len(self._memo) >= self.MEMO_MAX:
                self._memo.clear()
            hit = self._memo[key] = self._compute(grade or self.default.grade, lists, bool(clean))
        return hit

    def _compute(self, grade: str, lists: str | None, clean: bool) -> tuple[str, str, tuple[str, ...]]:
        entries = service._lists_of(lists)
        names = self.rules.list_names
        tags = frozenset((f"grade:{grade}", *(e.get("code") for e in entries),
                          *((service.CLEAN_3Y,) if clean else ())))
        lists_text = "；".join(f"{e.get('code')} {names.get(e.get('code'), (e.get('code'),))[0]}"
                              f"（{e.get('since')}）" for e in entries)
        ms = self.rules.measures_for(self.scenario, tags)  # type: ignore[arg-type]
        text = "；".join(f"{m['code']} {m['name']}" for m in ms)
        # the codes as a tuple: the register rows that carry them then leave the collector's sight
        return grade, f"{_field(grade)},{_field(lists_text)},{_field(text)}", tuple(m["code"] for m in ms)


_ANSWERED, _UNKNOWN = _field("answered 已核查"), _field("unknown 平台无此人")


def _answer(prep: _Prepared, found: dict[str, Sequence[Any]], answerer: _Answerer, vault: Vault,
            prefix: str) -> tuple[list[str], list[tuple[Any, ...]], dict[str, int]]:
    """The chunk's result-file lines, its register rows — (check_id, subject_bidx, subject_id, outcome,
    refusal, grade, measures), the order ``_INSERT_SQLITE`` and ``_INSERT_PG`` read — and counts.
    Check ids are numbered by job, attempt and row (ascending keys insert cheaply)."""
    lines: list[str] = []
    reg: list[tuple[Any, ...]] = []
    line, row = lines.append, reg.append
    matched = unknown = invalid_n = 0
    answer, reveal = answerer.answer, vault.reveal_name
    unknown_answer = answer(None, None, False)  # unknown to the platform: default grade, not "clean"
    shown: dict[str, str] = {}  # name -> masked name as a CSV field: names repeat in a file
    for n, b, masked, name, invalid in prep.rows:
        cid = f"{prefix}{n:016x}"
        if name:
            shown_name = shown.get(name)
            if shown_name is None:
                shown_name = shown[name] = _field(csv_cell(mask_name(name)))
        else:
            shown_name = ""
        if invalid is not None:
            invalid_n += 1
            fields, reason = _INVALID[invalid]
            line(f"{n},{masked},{shown_name},,{fields},{cid},{reason}\r\n")
            row((cid, None, None, "refused", invalid, None, None))
            continue
        hit = found.get(b)  # type: ignore[arg-type]
        if hit is None:
            unknown += 1
            grade, fields, codes = unknown_answer
            line(f"{n},{masked},{shown_name},,{_UNKNOWN},{fields},{cid},\r\n")
            row((cid, b, None, "answered", None, grade, codes))
            continue
        matched += 1
        _, sid, name_cipher, kid, st_grade, lists, clean = hit
        # A subject without a status row has no records: default grade, clean.
        grade, fields, codes = answer(st_grade, lists, clean) if st_grade is not None else answer(None, None, True)
        matches = ""
        if name:
            cipher = bytes.fromhex(name_cipher) if isinstance(name_cipher, str) else name_cipher
            registered = reveal(b, cipher, kid)  # type: ignore[arg-type]
            # compared as pushing a record compares them (spaces, invisible characters, middle dots)
            matches = "是 yes" if registered == name or names_match(registered, name) else "否 no"
        line(f"{n},{masked},{shown_name},{matches},{_ANSWERED},{fields},{cid},\r\n")
        row((cid, b, sid, "answered", None, grade, codes))
    return lines, reg, {"matched": matched, "unknown": unknown, "invalid": invalid_n}


# The register rows go in as one JSON parameter of ONE statement (see _LOOKUP_SQLITE: the insert then
# runs without the GIL; on PostgreSQL, COPY's rows were formatted in Python on the database thread,
# ~7 µs a row); the values are stored as SQLAlchemy stores them (SQL NULL for no measures).
_INSERT_SQLITE = (
    "INSERT INTO checks (check_id, checked_at, department_id, actor_type, actor_id, actor_label, channel, "
    "scenario, subject_bidx, subject_id, outcome, refusal, grade, measures, job_id) "
    "SELECT value->>0, ?, ?, ?, ?, ?, 'batch', ?, value->>1, value->>2, value->>3, value->>4, value->>5, "
    "value->>6, ? FROM json_each(?)")
_INSERT_PG = (
    "INSERT INTO checks (check_id, checked_at, department_id, actor_type, actor_id, actor_label, channel, "
    "scenario, subject_bidx, subject_id, outcome, refusal, grade, measures, job_id) "
    "SELECT r->>0, %s, %s, %s, %s, %s, 'batch', %s, r->>1, (r->>2)::bigint, r->>3, r->>4, r->>5, "
    "nullif(r->6, 'null'::jsonb)::json, %s FROM jsonb_array_elements(%s::jsonb) r")


def _register_payload(reg: list[tuple[Any, ...]]) -> str:
    """The register rows as :func:`_register` sends them: one JSON text, in blind-index order (so that
    the register's subject index is written in order). Built on the answering thread, for the
    database thread's sake (see :func:`_lookup`)."""
    reg.sort(key=_by_subject)
    return orjson.dumps(reg).decode()


def _by_subject(row: tuple[Any, ...]) -> str:
    return row[1] or ""  # the blind index; none for an invalid number


def _register(session: Session, job: CompareJob, caller: service.Caller, payload: str) -> None:
    """One register row per row (``channel = batch``), in the caller's transaction."""
    conn = session.connection()
    now = utcnow()
    a = caller.actor
    if conn.dialect.name == "sqlite":
        stamp = _CHECKS.c.checked_at.type.bind_processor(conn.dialect)(now)  # type: ignore[misc]
        conn.exec_driver_sql(_INSERT_SQLITE, (stamp, caller.department_id, a.type, a.id, a.label, job.scenario,
                                              job.id, payload))
        return
    conn.exec_driver_sql(_INSERT_PG, (now, caller.department_id, a.type, a.id, a.label, job.scenario, job.id, payload))


def _write(db: Any, job: CompareJob, token: str, caller: service.Caller, payload: str,
           counts: dict[str, int], pos: int, size: int, first_row: int, total: int) -> None:
    """A chunk's transaction: its register rows (:func:`_register_payload`), one audit entry, the
    job's counts and heartbeat (only if this runner still holds the job and the previous chunk is in,
    and only while its caller may still check for the department: :func:`standing`, one statement
    a chunk, read after the insert so that a revocation committed meanwhile still stops this chunk)."""
    with db.session() as s:
        _register(s, job, caller, payload)
        record(s, actor=caller.actor, action="checks.batch", object_type="compare_job", object_id=job.id,
               details={"rows": size, "first_row": first_row, **counts})
        stop = standing(s, caller.department_id, caller.actor)
        if stop is not None:
            raise stop  # the chunk's rows and entry are rolled back with the transaction
        res = s.execute(update(_J).where(_guard(job.id, token), _J.c.rows_done == pos).values(
            rows_done=pos + size, heartbeat_at=utcnow(), rows_total=total,
            **{k: _J.c[k] + v for k, v in counts.items()}))
        if res.rowcount != 1:  # type: ignore[attr-defined]
            raise LostJob(job.id)


def run_job(db: Any, vault: Vault, job_id: int, *, chunk_size: int = CHUNK_SIZE, today: date | None = None,
            on_progress: Callable[[int, int], None] | None = None,
            heartbeat_every: float = HEARTBEAT_SECONDS, actor: Actor | None = None) -> CompareJob | None:
    """Process a job to its end. Returns the job, or None if it could not be claimed. ``actor``: who
    runs it (a resume's caller, of the job's department); by default the job's creator."""
    token = claim(db, job_id)
    if token is None:
        return None
    try:
        _run(db, vault, job_id, token, chunk_size=chunk_size, today=today, on_progress=on_progress,
             heartbeat_every=heartbeat_every, actor=actor)
    except LostJob:
        log.warning("comparison job %s was taken over by another runner", job_id)
        return None
    except Stopped as exc:
        log.warning("comparison job %s stopped: %s", job_id, exc.code)
        _finish(db, job_id, token, status=exc.status, error=(exc.code, exc.message[:2000]), actor=actor)
    except FileError as exc:
        _finish(db, job_id, token, status="failed", error=(exc.code, exc.message[:2000]), actor=actor)
    except Exception as exc:  # noqa: BLE001 - recorded on the job, which can be run again
        log.exception("comparison job %s stopped by an unexpected error", job_id)
        try:
            _finish(db, job_id, token, status="interrupted", error=("processing_error",
                    f"处理时出错（{type(exc).__name__}），可以重新运行 / processing stopped ({type(exc).__name__})"),
                    actor=actor)
        except Exception:  # noqa: BLE001
            log.exception("comparison job %s: could not record the interruption", job_id)
    with db.session() as s:
        return s.get(CompareJob, job_id)


def _finish(db: Any, job_id: int, token: str, *, status: str, error: tuple[str, str] | None = None,
            result: bytes | None = None, vault: Vault | None = None, actor: Actor | None = None) -> None:
    with db.session() as s:
        values: dict[str, Any] = {"status": status, "runner": None, "heartbeat_at": utcnow()}
        if status in ("done", "failed"):
            values["finished_at"] = utcnow()
        if error is not None:
            values["error_code"], values["error_message"] = error
        res = s.execute(update(_J).where(_guard(job_id, token)).values(**values))
        if res.rowcount != 1:  # type: ignore[attr-defined]
            raise LostJob(job_id)
        if status in ("done", "failed"):  # the upload holds raw ID numbers: keep it no longer than needed
            s.execute(delete(CompareFile).where(CompareFile.job_id == job_id, CompareFile.kind == "upload"))
        if result is not None and vault is not None:
            blob, kid = vault.seal_blob(result, FILE_TABLE, "result", str(job_id))
            s.add(CompareFile(job_id=job_id, kind="result", key_id=kid, content=blob))
        job = s.get(CompareJob, job_id)
        assert job is not None
        s.refresh(job)
        record(s, actor=run_actor(job, actor),
               action={"done": "checks.batch_finish", "failed": "checks.batch_fail"}.get(status, "checks.batch_interrupt"),
               object_type="compare_job", object_id=job_id, outcome="ok" if status == "done" else "error",
               details={"rows_total": job.rows_total, "rows_done": job.rows_done, "matched": job.matched,
                        "unknown": job.unknown, "invalid": job.invalid, "error": job.error_code})


def _run(db: Any, vault: Vault, job_id: int, token: str, *, chunk_size: int, today: date | None,
         on_progress: Callable[[int, int], None] | None, heartbeat_every: float, actor: Actor | None) -> None:
    """The chunks as a pipeline: this thread prepares and answers (Python) while database threads
    look chunks up and write them, in order. The database work — SQLite's C code, PostgreSQL's
    server processes — overlaps the Python work. Chunk i+1's write starts only after chunk i's
    committed (one write thread, FIFO) and a failed write stops the job.

    On PostgreSQL a read thread looks chunk i+1 up while a write thread writes chunk i: each took
    ~6 µs a row at 10^6 subjects, and one thread doing both, in turn, was the pipeline's bottleneck
    (the Python work is ~7 µs a row; in process, 200,000 rows: 46,100–49,200 → 55,400–65,000 rows/s
    end to end).
    On SQLite, whose statements run in this process, and on a database whose sessions share one
    connection (``concurrent_sessions`` false: the tests' rolled-back one), one database thread
    does both, in the order lookup 1, lookup 2, write 1, lookup 3, write 2 … (a second thread on
    SQLite was 3 % slower: three threads of this process then share two cores)."""
    from concurrent.futures import Future, ThreadPoolExecutor

    with db.session() as s:
        job = s.get(CompareJob, job_id)
        assert job is not None
        runner = run_actor(job, actor)
        stop = standing(s, job.department_id, runner)
        if stop is not None:
            raise stop
        dept = s.get(Department, job.department_id)
        assert dept is not None
        caller = service.Caller(dept.id, dept.code, runner)
        stored = bulk.sealed_blob(s, CompareFile.__table__, {"job_id": job_id, "kind": "upload"})
        if stored is None:
            raise FileError("file_missing", "找不到该任务的文件，请重新上传", "the job's file is gone; upload it again")
        data = vault.reveal_blob(stored[0], FILE_TABLE, "upload", str(job_id), stored[1])
        answerer = _Answerer(s, job.scenario, today)
        if job.scenario not in answerer.rules.scenarios:  # retired since the upload: a check there is refused
            gone = service.unknown_scenario(job.scenario, list(answerer.rules.scenarios))
            raise FileError(gone.code, gone.zh, gone.en)
        s.expunge(job)
    _encoding, lay, rows = parse(data)
    del data
    day = today or clock.today()
    total = len(rows) - lay.first_row
    bounds = [(p, min(p + chunk_size, total)) for p in range(0, total, chunk_size)]
    prefix = f"{job.id:012x}{job.attempts % 65536:04x}"
    lines: list[str] = [HEADER_LINE]
    first = lay.first_row

    def prepare(k: int) -> _Prepared:
        return _prepare(rows, first + bounds[k][0], first + bounds[k][1], lay, vault, day)

    if getattr(db, "concurrent_sessions", False) and db.engine.dialect.name == "postgresql":
        reads = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"compare-{job_id}-read")
        writes = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"compare-{job_id}-write")
    else:
        reads = writes = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"compare-{job_id}-db")
    with KeepAlive(db, job_id, token, heartbeat_every):
        try:
            writing: Future[None] | None = None
            prep = prepare(0)
            looking = reads.submit(_lookup, db, prep.unique)
            for k, (pos, end) in enumerate(bounds):
                nxt = prepare(k + 1) if k + 1 < len(bounds) else None  # while chunk k is looked up
                ahead = reads.submit(_lookup, db, nxt.unique) if nxt is not None else None  # after chunk k's
                found = _found(looking.result())
                out, reg, counts = _answer(prep, found, answerer, vault, prefix)  # while chunk k+1 is looked up
                payload = _register_payload(reg)
                if writing is not None:
                    writing.result()
                    if on_progress is not None:
                        on_progress(pos, total)
                writing = writes.submit(_write, db, job, token, caller, payload, counts, pos, end - pos,
                                        lay.row_number(first + pos), total)
                lines.extend(out)
                del out, reg, found, payload
                prep, looking = nxt, ahead  # type: ignore[assignment]
            if writing is not None:
                writing.result()
        finally:
            for pool in {reads, writes}:
                pool.shutdown(wait=True, cancel_futures=True)
    if on_progress is not None:
        on_progress(total, total)
    _finish(db, job_id, token, status="done", result=b"\xef\xbb\xbf" + "".join(lines).encode("utf-8"), vault=vault,
            actor=runner)


def job_json(job: CompareJob) -> dict[str, Any]:
    return orjson.loads(orjson.dumps({
        "id": job.id, "scenario": job.scenario, "filename": job.filename, "status": effective_status(job),
        "rows_total": job.rows_total, "rows_done": job.rows_done,
        "counts": {"matched": job.matched, "unknown": job.unknown, "invalid": job.invalid},
        "error": {"code": job.error_code, "message": job.error_message} if job.error_code else None,
        "created_by": job.created_by, "created_at": job.created_at, "finished_at": job.finished_at,
        "result_url": f"/api/v1/checks/batch/{job.id}/result.csv" if job.status == "done" else None,
    }))
