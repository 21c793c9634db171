"""A model-based (stateful) test of record ingestion over the HTTP API.

Three departments push, import (CSV), read and revoke records of a handful of people while the clock
moves on (time_machine) and ``maintain`` runs, a display period is lengthened and recomputed, and
business systems check people; after every step the platform is compared with a small Python model
of the rules in issue 3 and docs/integration.md (statuses, revisions and their reasons, display
dates, revocation, isolation, subjects, data-quality counts, the debtors' list, the audit log).

Each example runs inside a SAVEPOINT of the test's transaction, rolled back at its end, so examples
start from the same district. (On SQLite a rolled-back catalog version's id is given again to the
next example's edit; the display dates are remembered per compiled version, not per id, so the
examples do not see each other's rules: tests/records/test_records_display.py.)
The suite has no hypothesis profile; this test is derandomized and keeps no example database, so a
run is the same everywhere. For a longer hunt, raise ``max_examples`` and ``stateful_step_count``
and drop ``derandomize``.
"""

from __future__ import annotations

import calendar
import csv
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select
from tests.support import SYSTEM, new_id_number

from xinyong import clock
from xinyong.audit.models import AuditEntry
from xinyong.auth import service as auth_service
from xinyong.auth.models import Department
from xinyong.records.models import Record, RecordRevision
from xinyong.subjects.models import Subject

pytestmark = pytest.mark.usefixtures("catalog_loaded")

# ---- the rules, written out here (docs/integration.md § 2 and § 5), not read from the code --------

# item -> severity -> (publish, min months, max months); retention years (None: not archived)
PERIODS: dict[str, dict[str | None, tuple[bool, int, int]]] = {
    "admin_penalty": {"minor": (False, 0, 3), "general": (True, 3, 12), "serious": (True, 12, 36)},
    "tax_violation": {"general": (True, 3, 12), "serious": (True, 12, 36)},
    "honor": {None: (True, 0, 60)},
    "dishonest_debtor": {None: (True, 0, 24)},  # and 12 months more for each year of extension_years
}
RETENTION_YEARS = {"admin_penalty": 5, "tax_violation": 5, "honor": None, "dishonest_debtor": 5}
# required and optional fields (act_ended_on: retention counts from it, and it may not be after today)
REQUIRED = {"admin_penalty": {"decision_no", "violation", "penalty_type"}, "tax_violation": {"case_no", "violation"},
            "honor": {"title", "level", "awarded_by"}, "dishonest_debtor": {"case_no", "court", "obligation",
                                                                           "circumstance"}}
OPTIONAL = {"admin_penalty": {"amount", "act_ended_on"}, "tax_violation": {"amount", "act_ended_on"}, "honor": set(),
            "dishonest_debtor": {"extension_years", "act_ended_on"}}
ITEMS = tuple(PERIODS)
# tax_violation is restricted to gaj in the test's catalog: scjgj and jyj may not push it
ALLOWED = {"scjgj": set(ITEMS) - {"tax_violation"}, "gaj": set(ITEMS), "jyj": set(ITEMS) - {"tax_violation"}}
DEPTS = ("scjgj", "gaj", "jyj")
SOURCE_IDS = ("S0", "S1", "S2", "S3")
NAMES = (("赵一", "赵壹"), ("钱二", "钱贰"), ("孙三", "孙叁"), ("李四", "李肆"), ("周五", "周伍"), ("吴六", "吴陆"),
         ("郑七", "郑柒"))
DECIDED = ("2019-05-06", "2021-03-02", "2024-01-10", "2025-11-20", "2026-06-30", "2026-09-01", "2026-11-02",
           # relative to the day of the push: (months back, days on), so that periods end around the clock's moves
           (0, 0), (1, 0), (3, 1), (12, 0), (12, 2), (24, 1), (60, 1), (36, 0))
INVALID = ("bad_id", "missing_field", "future", "unknown_field", "bad_severity", "future_end")
REASON = "处罚决定被依法撤销"
CSV_HEADER = ["id_number", "name", "source_id", "decided_at", "severity", "decision_no", "violation",
              "penalty_type", "amount", "act_ended_on"]


def add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    return date(d.year + y, m + 1, min(d.day, calendar.monthrange(d.year + y, m + 1)[1]))


Content = tuple[str, str, str | None, str, tuple[tuple[str, Any], ...]]  # item, person, severity, date, fields
Dates = tuple[bool, date, date, date | None]  # publish, min_display_until, display_until, retain_until


def dates_of(content: Content, periods: dict[str, Any] = PERIODS) -> Dates:
    item, _person, severity, decided_text, fields_ = content
    fields = dict(fields_)
    decided = date.fromisoformat(decided_text)
    publish, lo, hi = periods[item][severity]
    until = add_months(decided, hi + 12 * int(fields.get("extension_years") or 0))
    years = RETENTION_YEARS[item]
    start = date.fromisoformat(fields["act_ended_on"]) if fields.get("act_ended_on") else decided
    retain = max(add_months(start, 12 * years), until) if years else None
    return publish, add_months(decided, lo), until, retain


def status_on(until: date, retain: date | None, today: date) -> str:
    if retain is not None and retain <= today:
        return "archived"
    return "expired" if until <= today else "active"




@dataclass
class Rev:
    kind: str  # push | revoke | expire | archive | recompute
    content: Content
    status: str
    display_until: date
    publish: bool
    reason: str | None


@dataclass
class Rec:
    dept: str
    source_id: str
    record_id: int
    content: Content
    status: str
    dates: Dates
    revs: list[Rev] = field(default_factory=list)
    reason: str | None = None  # why the status is what it is: none for a status a push set

    def add(self, kind: str, moved_to: str | None = None, reason: str | None = None) -> None:
        """A new revision; ``moved_to``: its new status, with the ``reason`` it then carries."""
        if moved_to is not None and moved_to != self.status:
            self.status, self.reason = moved_to, reason
        self.revs.append(Rev(kind, self.content, self.status, self.dates[2], self.dates[0], self.reason))


# ---- record builders ------------------------------------------------------------------------------

def amount(variant: int, fmt: int) -> Any:
    """One amount written several ways (docs/integration.md § 3: numbers are compared by value)."""
    v = (1000, 2000)[variant]
    return (v, float(v), f"{v:,}", f"{v // 1000}e3")[fmt]


def fields_of(item: str, sid: str, variant: int, fmt: int = 0, ended: str | None = None) -> dict[str, Any]:
    f: dict[str, Any]
    if item == "admin_penalty":
        f = {"decision_no": f"和市监罚〔2026〕{sid}号", "violation": "未按规定公示", "penalty_type": "罚款",
             "amount": amount(variant, fmt)}
    elif item == "tax_violation":
        f = {"case_no": f"税-{sid}", "violation": "偷税", "amount": amount(variant, fmt)}
    elif item == "dishonest_debtor":
        f = {"case_no": f"（2026）津0101执{sid}号", "court": "和平区人民法院", "obligation": ("给付货款", "给付租金")[variant],
             "circumstance": "有履行能力而拒不履行"}
        if fmt:
            f["extension_years"] = fmt
    else:
        return {"title": "优秀志愿者", "level": ("district", "city", "区级", "市级")[variant + 2 * (fmt % 2)],
                "awarded_by": "和平区文明办"}
    if ended is not None:
        f["act_ended_on"] = ended
    return f


def normalised(item: str, fields: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """The fields as the model compares them: an amount by its value, a level label by its code."""
    out = dict(fields)
    if "amount" in out:
        out["amount"] = float(str(out["amount"]).replace(",", ""))
    if item == "honor":
        out["level"] = {"区级": "district", "市级": "city"}.get(out["level"], out["level"])
    return tuple(sorted(out.items()))


def same_name(a: str, b: str) -> bool:
    return "".join(a.replace("\u200b", "").split()) == "".join(b.replace("\u200b", "").split())


def typed_id(number: str) -> str:
    """The ID number a typed one stands for (full-width digits and a lower-case x are accepted)."""
    return number.translate({ord(c) + 0xFEE0: ord(c) for c in "0123456789X"}).upper()


entry = st.tuples(
    st.sampled_from(ITEMS),
    st.sampled_from(SOURCE_IDS),
    st.integers(0, len(NAMES)),  # the last one: the world's citizen, registered before the test
    st.integers(0, 2),  # severity choice (modulo the item's severities)
    st.sampled_from(DECIDED),
    st.integers(0, 1),  # fields variant
    st.sampled_from((0,) * 6 + (1, 2)),  # 1: a name not the person's first (a mismatch once they are registered);
    # 2: the first with a space inside (the same name)
    st.integers(0, 3),  # how the amount (or the level) is written; a debtor's extension_years
    st.sampled_from((None, None, None, "2022-01-15", "2026-10-01", "today")),  # act_ended_on
    st.sampled_from((None,) * 12 + INVALID),
    st.sampled_from((0,) * 6 + (1, 2, 3)),  # the ID number as typed: 1 full-width, 2 a lower-case x, 3 a zero-width
    # space in the name (each the same person and name: docs/integration.md § 3)
)


class IngestionMachine(RuleBasedStateMachine):
    # set by the test before the run
    ctx: Any = None

    def __init__(self) -> None:
        super().__init__()
        c = self.ctx
        self.client, self.db, self.app = c.client, c.db, c.app
        self.keys: dict[str, str] = c.keys
        self.savepoint = self.db.connection.begin_nested()
        self.travels: list[Any] = []
        self.people: list[tuple[str, tuple[str, ...]]] = [(new_id_number(), names) for names in NAMES]
        self.people.append((c.citizen_id, (c.citizen_name, "张三")))
        self.registered: dict[str, str] = {c.citizen_id: c.citizen_name}  # person -> name (subjects)
        self.base_subjects = c.base_subjects
        self.records: dict[tuple[str, str], Rec] = {}
        self.sent: list[tuple[str, dict[str, Any]]] = []  # accepted records as sent, for resends
        self.audit_after = self._last_audit_id()
        self.periods = {k: dict(v) for k, v in PERIODS.items()}
        self.refused: dict[str, list[str]] = {d: [] for d in DEPTS}  # source ids of refused records, per refusal

    def teardown(self) -> None:
        for t in reversed(self.travels):
            t.stop()
        if self.savepoint.is_active:
            self.savepoint.rollback()

    # ---- helpers ---------------------------------------------------------------------------------

    def _last_audit_id(self) -> int:
        with self.db.session() as s:
            return s.scalar(select(func.max(AuditEntry.id))) or 0

    def _new_audit(self) -> list[AuditEntry]:
        with self.db.session() as s:
            got = list(s.scalars(select(AuditEntry).where(AuditEntry.id > self.audit_after).order_by(AuditEntry.id)))
        if got:
            self.audit_after = got[-1].id
        return got

    def _h(self, dept: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[dept]}"}

    def build(self, e: tuple[Any, ...], today: date) -> dict[str, Any]:
        item, sid, who, sev_i, decided, variant, other_name, fmt, ended, invalid, typed = e
        idn, names = self.people[who]
        sevs = [s for s in PERIODS[item] if s is not None]
        name = names[other_name] if other_name < 2 else names[0][0] + " " + names[0][1:]
        if ended == "today":
            ended = today.isoformat()
        if isinstance(decided, tuple):
            decided = (add_months(today, -decided[0]) + timedelta(days=decided[1])).isoformat()
        rec: dict[str, Any] = {"item": item, "id_number": idn, "name": name, "source_id": sid, "decided_at": decided,
                               "fields": fields_of(item, sid, variant, fmt, ended if item != "honor" else None)}
        if sevs:
            rec["severity"] = sevs[sev_i % len(sevs)]
        if typed == 1:
            rec["id_number"] = idn.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789X"})
        elif typed == 2:
            rec["id_number"] = idn.lower()
        elif typed == 3:
            rec["name"] = name[0] + "\u200b" + name[1:]
        if invalid == "bad_id":
            rec["id_number"] = idn[:17] + ("0" if idn[17] != "0" else "1")
        elif invalid == "missing_field":
            del rec["fields"][sorted(REQUIRED[item])[0]]
        elif invalid == "future":
            rec["decided_at"] = (today + timedelta(days=3)).isoformat()
        elif invalid == "future_end" and item != "honor":
            rec["fields"]["act_ended_on"] = (today + timedelta(days=1)).isoformat()
        elif invalid == "unknown_field":
            rec["fields"]["remark"] = "x"
        elif invalid == "bad_severity":
            rec["severity"] = "huge" if sevs else "general"
        return rec

    def as_sent(self, m: Rec) -> dict[str, Any]:
        """A record's current content as its department would send it again."""
        item, idn, sev, decided, fields = m.content
        r = {"item": item, "id_number": idn, "name": self.registered[idn], "source_id": m.source_id,
             "decided_at": decided, "fields": dict(fields)}
        if sev is not None:
            r["severity"] = sev
        return r

    def predict(self, dept: str, batch: list[dict[str, Any]], today: date) -> list[tuple[str, Content | None]]:
        """What the rules say of each record of the batch, in order: (status, content)."""
        out: list[tuple[str, Content | None]] = []
        first: dict[str, Content] = {}
        names = dict(self.registered)
        for r in batch:
            item, idn, sid, sev = r["item"], typed_id(r["id_number"]), r["source_id"], r.get("severity")
            valid_ids = {p for p, _n in self.people}
            bad = (idn not in valid_ids or item not in ALLOWED[dept] or date.fromisoformat(r["decided_at"]) > today
                   or not REQUIRED[item] <= set(r["fields"]) <= REQUIRED[item] | OPTIONAL[item]
                   or sev not in PERIODS[item] or r["fields"].get("act_ended_on", "") > today.isoformat())
            if bad:
                out.append(("rejected", None))
                continue
            if idn in names and not same_name(names[idn], r["name"]):
                out.append(("rejected", None))  # name_mismatch
                continue
            content: Content = (item, idn, sev, r["decided_at"], normalised(item, r["fields"]))
            if sid in first:
                out.append(("unchanged" if first[sid] == content else "rejected", content))
                continue
            cur = self.records.get((dept, sid))
            if cur is not None and cur.content == content:
                status = "unchanged"
            elif cur is not None and (cur.status in ("revoked", "archived") or cur.content[0] != item):
                out.append(("rejected", None))
                continue
            else:
                status = "created" if cur is None else "updated"
            first[sid] = content
            names.setdefault(idn, r["name"])
            out.append((status, content))
        return out

    def apply(self, dept: str, batch: list[dict[str, Any]], predicted: list[tuple[str, Content | None]],
              record_ids: list[int | None], today: date) -> None:
        for r, (status, content), rid in zip(batch, predicted, record_ids, strict=True):
            if status == "rejected":
                self.refused[dept].append(r["source_id"])
                continue
            assert content is not None
            self.registered.setdefault(content[1], r["name"])
            key = (dept, r["source_id"])
            dates = dates_of(content, self.periods)
            st_ = status_on(dates[2], dates[3], today)
            if status == "created":
                assert rid is not None
                self.records[key] = Rec(dept, r["source_id"], rid, content, st_, dates)
                self.records[key].add("push")
            elif status == "updated":
                rec = self.records[key]
                rec.content, rec.dates = content, dates
                rec.add("push", st_)
            else:
                assert rid == self.records[key].record_id, (rid, self.records[key])
            self.sent.append((dept, r))

    def push(self, dept: str, batch: list[dict[str, Any]]) -> None:
        today = clock.today()
        predicted = self.predict(dept, batch, today)
        r = self.client.post("/api/v1/records", content=json.dumps({"records": batch}),
                             headers={**self._h(dept), "Content-Type": "application/json"})
        assert r.status_code == 200, r.text
        results = r.json()["results"]
        got = [x["status"] for x in results]
        assert got == [p[0] for p in predicted], (got, predicted, [x["errors"] for x in results], batch)
        for x in results:
            assert (x["record_id"] is None) == (x["status"] == "rejected"), x
            assert bool(x["errors"]) == (x["status"] == "rejected"), x
        changed = {x["record_id"] for x in results if x["status"] in ("created", "updated")}
        self.apply(dept, batch, predicted, [x["record_id"] for x in results], today)
        self.check_push_audit(dept, changed)

    def check_push_audit(self, dept: str, changed: set[int]) -> None:
        entries = [e for e in self._new_audit() if e.action == "records.push"]
        assert len(entries) == 1, [e.action for e in entries]
        written = {int(x[0]): int(x[1]) for x in entries[0].details["records"]}
        assert set(written) == changed
        for rid, revision in written.items():
            rec = next(m for m in self.records.values() if m.record_id == rid)
            assert rec.dept == dept and len(rec.revs) == revision

    # ---- rules -----------------------------------------------------------------------------------

    @rule(dept=st.sampled_from(DEPTS), entries=st.lists(entry, max_size=6),
          resend=st.lists(st.integers(0, 10_000), max_size=2),
          correct=st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(("recent", "earlier", "amount"))),
                           max_size=2))
    def push_batch(self, dept: str, entries: list[tuple[Any, ...]], resend: list[int],
                   correct: list[tuple[int, str]]) -> None:
        today = clock.today()
        batch = [self.build(e, today) for e in entries]
        mine = [r for d, r in self.sent if d == dept]
        if mine:  # resends of what this department sent before: identical (unchanged) or still itself
            batch += [json.loads(json.dumps(mine[i % len(mine)])) for i in resend]
        held = sorted((m for m in self.records.values() if m.dept == dept), key=lambda m: m.record_id)
        if held:
            for i, how in correct:  # corrections of its records: a later or earlier decision, another amount
                r = self.as_sent(held[i % len(held)])
                if how == "amount" and "amount" in r["fields"]:
                    r["fields"]["amount"] = 1500
                else:
                    day = add_months(today, -1) if how == "recent" else date.fromisoformat(r["decided_at"]) - \
                        timedelta(days=40)
                    r["decided_at"] = day.isoformat()
                batch.append(r)
        if batch:
            self.push(dept, batch)

    @rule(dept=st.sampled_from(DEPTS), entries=st.lists(entry, min_size=1, max_size=5),
          resend=st.lists(st.integers(0, 10_000), max_size=2))
    def import_csv(self, dept: str, entries: list[tuple[Any, ...]], resend: list[int]) -> None:
        """The same records as a CSV file (admin_penalty only: one item per file, every column known)."""
        from xinyong.imports.api import runner_of

        today = clock.today()
        batch = [self.build(e, today) for e in entries if e[0] == "admin_penalty"
                 and e[9] not in ("unknown_field", "bad_severity")]
        mine = [r for d, r in self.sent if d == dept and r["item"] == "admin_penalty"]
        if mine:
            batch += [json.loads(json.dumps(mine[i % len(mine)])) for i in resend]
        if not batch:
            return
        predicted = self.predict(dept, batch, today)
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(CSV_HEADER)
        for r in batch:
            f = r["fields"]
            w.writerow([r["id_number"], r["name"], r["source_id"], r["decided_at"], r["severity"],
                        f.get("decision_no", ""), f.get("violation", ""), f["penalty_type"], f["amount"],
                        f.get("act_ended_on", "")])
        h = self._h(dept)
        r = self.client.post("/api/v1/imports", files={"file": ("处罚.csv", buf.getvalue().encode(), "text/csv")},
                             data={"item": "admin_penalty"}, headers=h)
        assert r.status_code == 202, r.text
        runner_of(self.app).wait()
        job = self.client.get(f"/api/v1/imports/{r.json()['id']}", headers=h).json()
        assert job["status"] == "done", job
        want = {s: sum(1 for p in predicted if p[0] == s) for s in ("created", "updated", "unchanged", "rejected")}
        assert job["counts"] == want, (job["counts"], predicted, batch, job.get("errors"))
        # the file's record ids, row by row, as the model needs them: read back by source id
        ids: list[int | None] = []
        with self.db.session() as s:
            dept_id = s.scalar(select(Department.id).where(Department.code == dept))
            for rec, (status, _c) in zip(batch, predicted, strict=True):
                ids.append(None if status == "rejected" else s.scalar(
                    select(Record.id).where(Record.department_id == dept_id, Record.source_id == rec["source_id"])))
        changed = {i for i, (status, _c) in zip(ids, predicted, strict=True) if status in ("created", "updated")}
        self.apply(dept, batch, predicted, ids, today)
        self.check_push_audit(dept, changed)  # the file's one chunk: one push entry, as a batch's

    @rule(dept=st.sampled_from(DEPTS), pick=st.integers(0, 10_000))
    def revoke(self, dept: str, pick: int) -> None:
        if not self.records:
            return
        recs = sorted(self.records.values(), key=lambda m: m.record_id)
        rec = recs[pick % len(recs)]
        r = self.client.post(f"/api/v1/records/{rec.record_id}/revoke", json={"reason": REASON},
                             headers=self._h(dept))
        audit = self._new_audit()
        if rec.dept != dept:
            assert r.status_code == 404 and r.json()["code"] == "not_found", r.text
            return
        if rec.status in ("revoked", "archived"):
            code = "already_revoked" if rec.status == "revoked" else "archived"
            assert r.status_code == 409 and r.json()["code"] == code, r.text
            return
        assert r.status_code == 200, r.text
        rec.add("revoke", "revoked", REASON)
        assert r.json()["status"] == "revoked" and r.json()["revision"] == len(rec.revs)
        assert [e.object_id for e in audit if e.action == "record.revoke"] == [str(rec.record_id)]

    @rule(dept=st.sampled_from(DEPTS), pick=st.integers(0, 10_000))
    def read(self, dept: str, pick: int) -> None:
        if not self.records:
            return
        recs = sorted(self.records.values(), key=lambda m: m.record_id)
        rec = recs[pick % len(recs)]
        r = self.client.get(f"/api/v1/records/{rec.record_id}", headers=self._h(dept))
        self._new_audit()
        if rec.dept != dept:
            assert r.status_code == 404 and r.json()["code"] == "not_found", r.text
            return
        assert r.status_code == 200, r.text
        body = r.json()
        item, _p, sev, decided, fields = rec.content
        publish, lo, until, retain = rec.dates
        assert (body["item"], body["severity"], body["decided_at"], body["status"], body["revision"]) == (
            item, sev, decided, rec.status, len(rec.revs))
        assert normalised(item, body["fields"]) == fields
        assert (body["publish"], body["min_display_until"], body["display_until"], body["retain_until"]) == (
            publish, lo.isoformat(), until.isoformat(), retain.isoformat() if retain else None)
        revs = body["revisions"]
        assert [v["revision"] for v in revs] == list(range(1, len(rec.revs) + 1))
        for v, m in zip(revs, rec.revs, strict=True):
            assert (v["kind"], v["status"], v["severity"], v["decided_at"], normalised(item, v["fields"])) == (
                m.kind, m.status, m.content[2], m.content[3], m.content[4]), (v, m)
            assert v["display_until"] == m.display_until.isoformat()
            assert (v["publish"], v["reason"]) == (m.publish, m.reason), (v, m)
        assert body["status_reason"] == rec.reason

    @rule(days=st.sampled_from((1, 2, 30, 100, 200, 400, 400, 900)))
    def advance_and_maintain(self, days: int) -> None:
        from xinyong.maintenance import run_daily

        traveller = time_machine.travel(datetime.now(UTC) + timedelta(days=days), tick=True)
        traveller.start()
        self.travels.append(traveller)
        today = clock.today()
        due: dict[int, str] = {}
        for rec in self.records.values():
            _pub, _lo, until, retain = rec.dates
            if rec.status in ("active", "expired", "revoked") and retain is not None and retain <= today:
                due[rec.record_id] = "archived"
            elif rec.status == "active" and until <= today:
                due[rec.record_id] = "expired"
        first = run_daily(self.db)["records"]
        assert (first["archived"], first["expired"]) == (
            sum(1 for v in due.values() if v == "archived"), sum(1 for v in due.values() if v == "expired")), first
        for rec in self.records.values():
            if rec.record_id in due:
                to = due[rec.record_id]
                rec.add("archive" if to == "archived" else "expire", to,
                        "retention ended" if to == "archived" else "display period ended")
        audit = self._new_audit()
        for kind in ("expire", "archive"):
            assert sorted(int(e.object_id) for e in audit if e.action == f"record.{kind}") == sorted(
                rid for rid, v in due.items() if v == ("archived" if kind == "archive" else "expired"))
        again = run_daily(self.db)["records"]
        assert (again["archived"], again["expired"]) == (0, 0), again
        assert not [e for e in self._new_audit() if e.action in ("record.expire", "record.archive")]

    @rule()
    def lengthen_a_period(self) -> None:
        """The credit office lengthens general penalties' display to 3–24 months (a new catalog
        version, the same one in every example): new records follow it, existing ones once recomputed."""
        from xinyong.catalog.service import get_current, update_item
        from xinyong.catalog.spec import to_data

        if self.periods["admin_penalty"]["general"][2] == 24:
            return
        self.periods["admin_penalty"]["general"] = (True, 3, 24)
        with self.db.session() as s:
            spec = to_data(get_current(s, "admin_penalty").spec)
            spec["display"]["by_severity"]["general"]["max_months"] = 24
            update_item(s, code="admin_penalty", data=spec, actor=SYSTEM)
        self._new_audit()

    @rule()
    def recompute(self) -> None:
        """The existing penalties' display dates recomputed on request (``recompute_display``)."""
        from xinyong.records import service

        today = clock.today()
        due = []
        for rec in self.records.values():
            if rec.content[0] != "admin_penalty" or rec.status in ("revoked", "archived"):
                continue
            dates = dates_of(rec.content, self.periods)
            status = status_on(dates[2], dates[3], today)
            if (dates, status) != (rec.dates, rec.status):
                rec.dates = dates
                rec.add("recompute", status, "display rule changed")
                due.append(rec.record_id)
        with self.db.session() as s:
            assert service.recompute_display(s, item_code="admin_penalty", actor=SYSTEM) == len(due)
        assert sorted(int(e.object_id) for e in self._new_audit() if e.action == "record.recompute") == sorted(due)
        with self.db.session() as s:  # asked again, nothing left to change
            assert service.recompute_display(s, item_code="admin_penalty", actor=SYSTEM) == 0

    @rule(dept=st.sampled_from(DEPTS), who=st.integers(0, len(NAMES)))
    def check_a_person(self, dept: str, who: int) -> None:
        """A business system's check (联合奖惩核查): the person is known once a record of theirs was
        accepted, and on the dishonest debtors' list exactly while a debtor record of theirs is shown
        (active): a revoked, expired or archived one is no longer used."""
        idn = self.people[who][0]
        r = self.client.post("/api/v1/checks", json={"id_number": idn, "scenario": "civil_service_hiring"},
                             headers=self._h(dept))
        self._new_audit()
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["known"] is (idn in self.registered)
        shown = sorted(m.content[3] for m in self.records.values()
                       if m.content[0] == "dishonest_debtor" and m.content[1] == idn and m.status == "active")
        # one entry a list, since its earliest listing (a debtor with two court cases: two entries, one list)
        assert [x["since"] for x in body["lists"] if x["code"] == "dishonest_debtor"] == shown[:1], (body, shown)

    # ---- invariants ------------------------------------------------------------------------------

    @invariant()
    def stored_as_modelled(self) -> None:
        with self.db.session() as s:
            depts = dict(s.execute(select(Department.id, Department.code)).all())
            rows = {(depts[r.department_id], r.source_id): r for r in s.scalars(select(Record))}
            assert set(rows) == set(self.records)
            for key, m in self.records.items():
                row = rows[key]
                publish, lo, until, retain = m.dates
                assert row.id == m.record_id
                assert (row.status, row.revision, row.item_code, row.severity, row.decided_at.isoformat()) == (
                    m.status, len(m.revs), m.content[0], m.content[2], m.content[3]), (row.status, m)
                assert normalised(m.content[0], row.fields) == m.content[4]
                assert (row.publish, row.min_display_until, row.display_until, row.retain_until) == (
                    publish, lo, until, retain)
                assert row.decided_at <= row.min_display_until <= row.display_until
                assert retain is None or row.display_until <= retain
                # history: every superseded revision as it was (nothing overwritten in place)
                hist = list(s.scalars(select(RecordRevision).where(RecordRevision.record_id == row.id)
                                      .order_by(RecordRevision.revision)))
                assert [(h.revision, h.kind, h.status, h.reason, h.decided_at.isoformat(),
                         normalised(m.content[0], h.fields)) for h in hist] == [
                    (i + 1, v.kind, v.status, v.reason, v.content[3], v.content[4]) for i, v in enumerate(m.revs[:-1])]
                assert row.status_reason == m.reason
            n = s.scalar(select(func.count()).select_from(Subject))
            assert n == self.base_subjects + len(set(self.registered) - {self.ctx.citizen_id}), (n, self.registered)

    @invariant()
    def each_department_lists_its_own_shown_records(self) -> None:
        for dept in DEPTS:
            r = self.client.get("/api/v1/records?status=active&limit=200", headers=self._h(dept))
            assert r.status_code == 200, r.text
            assert sorted(x["id"] for x in r.json()["items"]) == sorted(
                m.record_id for m in self.records.values() if m.dept == dept and m.status == "active")
            r = self.client.get("/api/v1/records?limit=200", headers=self._h(dept))
            assert sorted((x["id"], x["status"]) for x in r.json()["items"]) == sorted(
                (m.record_id, m.status) for m in self.records.values() if m.dept == dept)
            [q] = self.client.get("/api/v1/quality", headers=self._h(dept)).json()
            assert (q["code"], q["pushed"], q["rejected"], q["rejected_distinct"]) == (
                dept, sum(1 for m in self.records.values() if m.dept == dept), len(self.refused[dept]),
                len(set(self.refused[dept]))), q
        self._new_audit()


@dataclass
class Ctx:
    client: Any
    db: Any
    app: Any
    keys: dict[str, str]
    citizen_id: str
    citizen_name: str
    base_subjects: int


def test_ingestion_matches_the_model(client, app, db, world) -> None:  # type: ignore[no-untyped-def]
    from xinyong.catalog.service import get_current, update_item
    from xinyong.catalog.spec import to_data
    from xinyong.lists.service import load_default as load_lists

    with db.session() as s:
        load_lists(s, actor=SYSTEM)
        spec = to_data(get_current(s, "tax_violation").spec)
        spec["departments"] = ["gaj"]
        update_item(s, code="tax_violation", data=spec, actor=SYSTEM)
        dept_c = auth_service.add_department(s, code="jyj", name="区教育局", actor=SYSTEM)
        key_c, _ = auth_service.create_api_key(s, department=dept_c, name="业务系统C", actor=SYSTEM)
        base = s.scalar(select(func.count()).select_from(Subject))
    IngestionMachine.ctx = Ctx(client, db, app, {"scjgj": world.key_a, "gaj": world.key_b, "jyj": key_c},
                               world.citizen_id_number, "张三丰", base)
    try:
        run_state_machine_as_test(IngestionMachine, settings=settings(
            max_examples=25, stateful_step_count=15, deadline=None, derandomize=True, database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
    finally:
        IngestionMachine.ctx = None
