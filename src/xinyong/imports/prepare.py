"""The file side of an import job: parse the file, turn each chunk's rows into records and check
them against the catalog — everything that needs neither the database nor a key — for the runner,
and for large files in a helper process while the runner writes the previous chunk.

An import spends about a third of its time here (parsing, mapping, the catalog's checks, the ID
numbers' check digits) and two thirds on the database side (subjects, records, revisions, the
after-change handlers), which one transaction at a time must do. On a machine of two cores or more
the two sides can run at once: :class:`HelperPreparer` keeps a :class:`FilePreparer` in a process of
its own (one per job, forked from a fork server started once per process), which the runner asks
for the next chunks ahead of time; what crosses the pipe is plain values (:class:`ChunkPlan`, the
accepted records packed by ``records.service.pack_prepared``). The blind indexes are computed by
the runner, so the helper holds no key; it holds the job's decrypted file, as the runner does, and
ends with the job, or with the runner if that is killed.

The helper is only a speed-up: the runner reads the file itself too (its row count, the source ids
already done on a resume, the first chunk), so a bad file is refused as without a helper; and if the
helper cannot start, fails (killed, out of memory, a bug) or stops answering, the runner prepares the
rest itself, from the chunk the helper did not give (``imports.runner``). :func:`helper_wanted` says
when a job has one: ``XINYONG_IMPORT_HELPER`` ``auto`` (a file of :data:`HELPER_MIN_BYTES` or more, two cores
or more), ``on``, ``off``.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import re
import signal
import time
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import date
from multiprocessing.connection import Connection
from typing import Any

from xinyong.catalog.service import Item, item_from_data, item_to_data
from xinyong.imports import parsers
from xinyong.imports.parsers import RowMapper
from xinyong.imports.service import MAX_ERRORS_PER_ROW
from xinyong.records.service import DepartmentRef, PackedRecord, check_records, pack_prepared, sent_before

log = logging.getLogger("xinyong.imports")

# A file this large holds three chunks or more of typical rows (~130 bytes a CSV row): below it, a
# helper's start-up (a fork and the first chunk's wait) is not won back.
HELPER_MIN_BYTES = 1_000_000


@dataclass(frozen=True)
class FileInfo:
    """What the runner needs of a parsed file before its first chunk."""

    total: int  # data rows
    column_of: dict[str, str]  # record error field -> the column's header as written
    # on a resumed run: the source ids of the rows already done that were accepted, each with its first
    # accepted row's number (``FileBatch.before``)
    before: dict[str, int]
    # the item's columns the workbook hides that hold a value in some data row: (header, letters)
    hidden_with_values: tuple[tuple[str, str], ...] = ()


@dataclass
class ChunkPlan:
    """One chunk of rows, ready for the database side: the records to ingest (their row numbers,
    their raw item code and source id for the rejection log, the catalog's verdict packed), and the
    rows the file's own checks refused (their errors for the report, their source ids for the data
    quality's rejection log)."""

    start: int  # index of the chunk's first row among the file's data rows
    size: int  # rows in the chunk
    today: date
    sent_on: date | None
    numbers: list[int] = field(default_factory=list)  # row number of each record, by record index
    refs: list[tuple[Any, Any]] = field(default_factory=list)  # each record's ("item", "source_id") as sent
    refused: list[tuple[int, list[dict[str, str]]]] = field(default_factory=list)  # (record index, errors)
    packed: list[PackedRecord] = field(default_factory=list)  # the records the catalog accepted
    row_errors: list[dict[str, Any]] = field(default_factory=list)  # row_number, header, field, code, message
    refused_rows: list[tuple[str | None, list[dict[str, Any]]]] = field(default_factory=list)  # (source id, errors)

    @property
    def rejected(self) -> int:
        """Rows the file's own checks refused (ingestion counts its own)."""
        return len(self.refused_rows)


class FilePreparer:
    """A job's parsed file and its row mapper; :meth:`chunk` prepares rows ``[start, start+size)``."""

    def __init__(self, data: bytes, item: Item, department: DepartmentRef,
                 tick: Callable[[int], None] | None = None) -> None:
        self.item, self.department = item, department
        self.items = {item.code: item}
        self.parsed = parsers.parse(data, item.spec, tick=tick)
        self.mapper = RowMapper(item.code, item.spec, self.parsed.header)
        self.convert = self.mapper.converter(self.parsed.format)
        self.cut = cut_id_numbers(self.parsed.rows, self.mapper)
        self.source_col = _column(self.mapper, "source_id")

    def info(self, pos: int, refused: AbstractSet[int] = frozenset()) -> FileInfo:
        """The file's row count and columns and, for a run resumed at row ``pos``, the source ids of
        the rows before it but those ``refused`` (row numbers: the job's report)."""
        rows = self.parsed.rows
        header = self.parsed.header
        return FileInfo(len(rows), dict(self.mapper.column_of),
                        first_rows(rows[:pos], self.mapper, refused) if pos else {},
                        tuple(header.hidden_read_with_values(rows)) if header.hidden_read else ())

    def chunk(self, start: int, size: int, today: date, sent_on: date | None) -> ChunkPlan:
        """Rows ``[start, start+size)`` checked as of ``today``, sent (uploaded) on ``sent_on``."""
        rows = self.parsed.rows[start : start + size]
        plan = ChunkPlan(start, len(rows), today, sent_on)
        records: list[dict[str, Any]] = []
        convert, cut, id_header = self.convert, self.cut, self.mapper.column_of.get("id_number")
        for n, cells in rows:
            if n in cut:
                errs = [{"row_number": n, "header": id_header, "field": "id_number", "code": "id_stored_as_number",
                         "message": _CUT_MESSAGE}]
            else:
                rec, found = convert(cells)
                if not found:
                    records.append(rec)
                    plan.numbers.append(n)
                    continue
                errs = [{"row_number": n, "header": (e.get("column") or None), "field": e["field"], "code": e["code"],
                         "message": e["message"]} for e in found[:MAX_ERRORS_PER_ROW]]
            plan.row_errors.extend(errs)
            source = cells[self.source_col] if self.source_col is not None and self.source_col < len(cells) else None
            plan.refused_rows.append((parsers.cell_text(source), errs))
        if records:
            outcomes, prepared = check_records(records, items=self.items, department=self.department, today=today,
                                               sent_on=sent_before(sent_on, today))
            plan.refs = [(r.get("item"), r.get("source_id")) for r in records]
            plan.refused = [(o.index, o.errors) for o in outcomes if o.errors]
            plan.packed = pack_prepared(prepared)
        return plan


_CUT_MESSAGE = ("身份证号码末三位为000，且本文件中这样的号码过多：疑似表格软件按数字保存而截断了末尾数字，"
                "请将该列设置为“文本”格式后重新填写 / the ID number ends in 000, as too many in this "
                "file do: a spreadsheet that stored the column as numbers cut their last digits; "
                "format the column as text and enter the numbers again")


def _column(mapper: RowMapper, key: str) -> int | None:
    return next((i for i, (_kind, k, _h) in enumerate(mapper.plan) if k == key), None)


def first_rows(rows: Sequence[parsers.Row], mapper: RowMapper, refused: AbstractSet[int] = frozenset(),
               ) -> dict[str, int]:
    """The source ids of ``rows`` as the row mapper reads them (a whole number typed in a spreadsheet
    and the same digits as text are one id), each with the number of its first row not ``refused``;
    an id all of whose rows were refused is none (a refused row stands for nothing: a later row of
    the id is judged as in a straight run, against the record alone)."""
    col = _column(mapper, "source_id")
    if col is None:
        return {}
    out: dict[str, int] = {}
    for n, cells in rows:
        if n not in refused and col < len(cells):
            key = parsers.cell_text(cells[col])
            if key:
                out.setdefault(key.strip(), n)
    return out


# A spreadsheet keeps 15 significant digits of a number: an ID number typed into a column of
# numbers comes out of it as its first 15 digits and "000". About 1 real ID number in 1,100 ends in
# 000 (a sequence number ending in 00, check digit 0), and one in 11 of the cut ones still passes
# the check digit — so a cut number cannot be told from one row; from a file, it can.
_CUT_BY_SPREADSHEET = re.compile(r"\s*[0-9]{15}000\s*")
CUT_MIN_ROWS, CUT_MIN_SHARE = 3, 0.02  # far above chance (0.09 %): the column was cut


def cut_id_numbers(rows: Sequence[parsers.Row], mapper: RowMapper) -> set[int]:
    """The rows whose ID number looks cut by a spreadsheet (15 digits and 000) in a file where such
    numbers are too many to be real ones: row numbers, refused as ``id_stored_as_number``."""
    col = _column(mapper, "id_number")
    if col is None or not rows:
        return set()
    return cut_by_spreadsheet(((n, cells[col]) for n, cells in rows if col < len(cells)), len(rows))


def cut_by_spreadsheet(cells: Iterable[tuple[Any, Any]], rows: int) -> set[Any]:
    """Of ``(key, ID-number cell)`` pairs from a file of ``rows`` rows, the keys whose number looks cut
    by a spreadsheet (15 digits and 000) when such numbers are too many to be real ones. Shared with
    the batch comparison (名单比对), whose CSV comes out of the same spreadsheets."""
    cut = {key: cell.strip() for key, cell in cells if isinstance(cell, str) and cell.rstrip().endswith("000")
           and _CUT_BY_SPREADSHEET.fullmatch(cell)}
    # counted by distinct numbers: one person whose real number ends in 000 (one in ~1,100) with several
    # rows in a small file is not "many such numbers" (their rows were all refused)
    numbers = set(cut.values())
    if len(numbers) >= CUT_MIN_ROWS and len(numbers) >= CUT_MIN_SHARE * rows:
        return set(cut)
    return set()


# ---- the helper process ------------------------------------------------------------------------------
#
# A process of its own with one pipe (not a ProcessPoolExecutor: its workers hold both ends of their
# request queue, so a runner killed with ``kill -9`` left them waiting for ever, with the file's rows —
# raw ID numbers — in memory). Here the helper holds only its end: when the runner dies, its next
# read ends (EOF) or its next answer fails (broken pipe), and it exits.


def _serve(conn: Connection, data: bytes, item_id: int, item_version: int, item_data: dict[str, Any],
           department: DepartmentRef) -> None:
    """The helper's loop: read the file, answer its row count; then answer each ``(start, size,
    today, sent_on)`` with a :class:`ChunkPlan`, until ``None`` or the runner is gone. A failure is
    answered by its exception's name only (its message may quote the file). Ctrl-C, which a terminal
    sends to the helper too, is ignored: the runner decides what it means, and stops its helper
    (a KeyboardInterrupt here printed a Python traceback on the terminal)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        try:
            prep = FilePreparer(data, item_from_data(item_id, item_version, item_data), department)
        except Exception as exc:  # noqa: BLE001 - told to the runner, which reads the file itself anyway
            conn.send(("error", type(exc).__name__))
            return
        del data
        conn.send(("ok", len(prep.parsed.rows)))
        while True:
            ask = conn.recv()
            if ask is None:
                return
            try:
                answer: tuple[str, Any] = ("ok", prep.chunk(*ask))
            except Exception as exc:  # noqa: BLE001 - the runner prepares this chunk itself
                answer = ("error", type(exc).__name__)
            conn.send(answer)
    except (EOFError, OSError):  # the runner is gone (or closed the pipe): nothing to answer
        return


class HelperGone(RuntimeError):
    """The helper process failed or ended: the runner goes on without it."""


_context: Any = None


def _fork_server() -> Any:
    """A fork server started once per process (a server runs jobs in threads: forking it as it is
    would copy their locks), with this module imported in it, so that each job's helper starts in
    milliseconds."""
    global _context
    if _context is None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["xinyong.imports.prepare"])
        _context = ctx
    return _context


class HelperPreparer:
    """A :class:`FilePreparer` in a helper process. Asks are answered in order: :meth:`ask` for a
    chunk (as many ahead as wanted), :meth:`answer` takes the oldest answer. ``wait`` is called every
    ``every`` seconds while an answer is awaited (the runner keeps its job's heartbeat); an answer not
    given within ``patience`` seconds of waiting is :class:`HelperGone` (a helper alive but stopped or
    stuck: the heartbeat kept meanwhile, the job could otherwise never be taken over)."""

    patience: float | None = None

    def __init__(self, data: bytes, item: Item, department: DepartmentRef, *, wait: Callable[[], None],
                 every: float) -> None:
        ctx = _fork_server()
        self._conn, child = ctx.Pipe(duplex=True)
        item_id, version, item_data = item_to_data(item)
        self._process = ctx.Process(target=_serve, args=(child, data, item_id, version, item_data, department),
                                    name="xinyong-import-helper", daemon=True)
        try:
            self._process.start()
        except BaseException:
            self._conn.close()  # no helper: nothing at the other end
            raise
        finally:
            child.close()
        self._wait, self._every = wait, every
        self._opened = False

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def _receive(self) -> Any:
        patience = self.patience
        deadline = None if patience is None else time.monotonic() + patience
        try:
            while True:
                timeout = self._every if deadline is None else max(0.0, min(self._every, deadline - time.monotonic()))
                if self._conn.poll(timeout):
                    break
                if not self._process.is_alive():
                    raise HelperGone("the helper process ended")
                if deadline is not None and time.monotonic() >= deadline:
                    raise HelperGone(f"the helper process has not answered in {patience:.0f} s")
                self._wait()
            status, value = self._conn.recv()
        except (EOFError, OSError) as exc:
            raise HelperGone(f"the helper process is gone ({type(exc).__name__})") from exc
        if status != "ok":
            raise HelperGone(f"the helper process failed ({value})")
        return value

    def ask(self, start: int, size: int, today: date, sent_on: date | None) -> None:
        try:
            self._conn.send((start, size, today, sent_on))
        except (EOFError, OSError) as exc:
            raise HelperGone(f"the helper process is gone ({type(exc).__name__})") from exc

    def answer(self) -> ChunkPlan:
        if not self._opened:  # its reading of the file comes first
            self._receive()
            self._opened = True
        plan: ChunkPlan = self._receive()
        return plan

    def close(self) -> None:
        """Stop the helper: asked to, and ended if it has not within a second (an idle helper ends at
        once; a busy one — a chunk no longer wanted, a long XLSX read — or a stuck one holds nothing
        that needs a clean end, and the job's end must not wait for it)."""
        with contextlib.suppress(EOFError, OSError):
            self._conn.send(None)
        self._conn.close()
        self._process.join(1)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        if not self._process.is_alive():  # one that outlives a kill (stuck in the kernel) is left to end
            self._process.close()  # (close() of a live process raises, and the job's outcome would be lost)


def helper_wanted(data: bytes, setting: str | None = None, cpus: int | None = None) -> bool:
    """Whether a job's file is prepared in a helper process: ``XINYONG_IMPORT_HELPER`` (``auto``,
    ``on``, ``off``; another value is ``auto``, with a warning); ``auto``: a file of at least
    :data:`HELPER_MIN_BYTES` with two cores or more for this process."""
    raw = setting if setting is not None else os.environ.get("XINYONG_IMPORT_HELPER", "auto")
    value = raw.strip().lower()
    if value in ("off", "0", "false", "no"):
        return False
    if value in ("on", "1", "true", "yes"):
        return True
    if value not in ("auto", ""):
        log.warning("XINYONG_IMPORT_HELPER=%r is not auto, on or off: taken as auto", raw[:40])
    return len(data) >= HELPER_MIN_BYTES and (cpus if cpus is not None else _cpus()) >= 2


def _cpus() -> int:
    """The cores this process may run on (a CPU set or affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1
