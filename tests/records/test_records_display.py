"""Display periods for each severity, maintenance (twice), recomputation after a rule change."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from tests.records.records_support import penalty
from tests.support import SYSTEM

from xinyong.audit.models import AuditEntry
from xinyong.catalog.service import current_items, get_current, update_item
from xinyong.catalog.spec import to_data
from xinyong.records import service
from xinyong.records.display import add_months
from xinyong.records.models import Record

pytestmark = pytest.mark.usefixtures("catalog_loaded")
TODAY = date(2026, 11, 26)


def ingest(session, vault, world, records, today=TODAY):  # type: ignore[no-untyped-def]
    dept = service.DepartmentRef(world.dept_a.id, world.dept_a.code)
    return service.ingest(session, vault=vault, department=dept, records=records, actor=SYSTEM, today=today)


@pytest.mark.parametrize(("severity", "publish", "min_until", "until"), [
    ("minor", False, date(2026, 3, 2), date(2026, 6, 2)),
    ("general", True, date(2026, 6, 2), date(2027, 3, 2)),
    ("serious", True, date(2027, 3, 2), date(2029, 3, 2)),
])
def test_penalty_display_dates(session, vault, world, person, severity, publish, min_until, until):  # type: ignore[no-untyped-def]
    idn, name = person
    [o] = ingest(session, vault, world, [penalty(idn, name, severity=severity, decided_at="2026-03-02")])
    rec = session.get(Record, o.record_id)
    assert (rec.publish, rec.min_display_until, rec.display_until) == (publish, min_until, until)
    assert rec.retain_until == date(2031, 3, 2)  # 5 years for bad records
    assert rec.status == ("expired" if until <= TODAY else "active")


def test_dishonest_debtor_two_years_and_good_records_no_retention(session, vault, world, person):  # type: ignore[no-untyped-def]
    idn, name = person
    debtor = {"item": "dishonest_debtor", "id_number": idn, "name": name, "source_id": "D1", "decided_at": "2025-06-30",
              "fields": {"case_no": "(2025)津0101执1号", "court": "和平区人民法院", "obligation": "给付", "circumstance": "拒不履行"}}
    honor = {"item": "honor", "id_number": idn, "name": name, "source_id": "H1", "decided_at": "2025-06-30",
             "fields": {"title": "优秀志愿者", "level": "district", "awarded_by": "区文明办"}}
    d, h = ingest(session, vault, world, [debtor, honor])
    assert session.get(Record, d.record_id).display_until == date(2027, 6, 30)
    assert session.get(Record, h.record_id).retain_until is None


def test_maintain_expires_and_archives_once(session, vault, world, person):  # type: ignore[no-untyped-def]
    idn, name = person
    outs = ingest(session, vault, world, [
        penalty(idn, name, source_id="A", severity="general", decided_at="2026-01-10"),  # until 2027-01-10
        penalty(idn, name, source_id="B", severity="serious", decided_at="2026-01-10"),  # until 2029-01-10
    ], today=date(2026, 2, 1))
    assert [session.get(Record, o.record_id).status for o in outs] == ["active", "active"]
    first = service.maintain(session, actor=SYSTEM, today=date(2027, 1, 10))
    second = service.maintain(session, actor=SYSTEM, today=date(2027, 1, 10))
    assert (first.expired, first.archived) == (1, 0)
    assert (second.expired, second.archived) == (0, 0)
    assert [session.get(Record, o.record_id).status for o in outs] == ["expired", "active"]
    ended = session.get(Record, outs[0].record_id)
    assert (ended.revision, ended.change_kind, ended.status_reason) == (2, "expire", "display period ended")
    assert [(r.revision, r.kind, r.status) for r in service.revisions_of(session, ended.id)] == [(1, "push", "active")]
    later = service.maintain(session, actor=SYSTEM, today=date(2031, 1, 10))
    assert (later.expired, later.archived) == (0, 2)
    again = service.maintain(session, actor=SYSTEM, today=date(2031, 1, 10))
    assert (again.expired, again.archived) == (0, 0)
    assert session.scalar(select(func.count()).select_from(AuditEntry)
                          .where(AuditEntry.action.in_(("record.expire", "record.archive")))) == 3


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ends=st.lists(st.sampled_from(["general", "serious", "minor"]), min_size=1, max_size=12),
       batch=st.integers(min_value=1, max_value=5))
def test_maintain_in_small_batches_changes_every_due_record_once(session, vault, world, person, ends, batch):  # type: ignore[no-untyped-def]
    """The daily walk by id, ``batch`` matches at a time, finds every due record whatever their
    order and the batch size, and leaves the others alone."""
    idn, name = person
    base = session.scalar(select(func.count()).select_from(Record)) or 0
    tag = f"M{base}-"
    day = date(2027, 6, 1)  # general (2026-01-10 + 1 year) is due; serious (3 years) is not; minor never shown
    outs = ingest(session, vault, world, [penalty(idn, name, source_id=f"{tag}{i}", severity=sev,
                                                  decided_at="2026-01-10") for i, sev in enumerate(ends)],
                  today=date(2026, 2, 1))
    before = {o.record_id: session.get(Record, o.record_id).status for o in outs}
    due = {rid for rid, st_ in before.items() if st_ == "active" and session.get(Record, rid).display_until <= day}
    res = service.maintain(session, actor=SYSTEM, today=day, batch=batch)
    assert res.archived == 0 and res.expired == len(due)
    for rid, st_ in before.items():
        session.expire(session.get(Record, rid))
        assert session.get(Record, rid).status == ("expired" if rid in due else st_)
    assert service.maintain(session, actor=SYSTEM, today=day, batch=batch).expired == 0


def test_revoked_records_keep_their_status_until_retention_ends_then_are_archived(session, vault, world, person):  # type: ignore[no-untyped-def]
    idn, name = person
    [o] = ingest(session, vault, world, [penalty(idn, name, decided_at="2026-01-10")], today=date(2026, 2, 1))
    service.revoke(session, rec=session.get(Record, o.record_id), reason="撤销", actor=SYSTEM)
    res = service.maintain(session, actor=SYSTEM, today=date(2027, 6, 1))  # past display_until: not "expired"
    assert (res.expired, res.archived) == (0, 0) and session.get(Record, o.record_id).status == "revoked"
    rec = session.get(Record, o.record_id)
    assert rec.retain_until == date(2031, 1, 10)
    assert service.maintain(session, actor=SYSTEM, today=date(2031, 1, 9)).archived == 0
    assert service.maintain(session, actor=SYSTEM, today=date(2031, 1, 10)).archived == 1
    assert service.maintain(session, actor=SYSTEM, today=date(2031, 1, 10)).archived == 0
    session.expire(rec)
    # archiving is a revision of its own: the revocation, with its reason, stays in the history as it was
    assert (rec.status, rec.change_kind, rec.status_reason, rec.revision) == ("archived", "archive", "retention ended", 3)
    history = [(r.revision, r.kind, r.status, r.reason) for r in service.revisions_of(session, rec.id)]
    assert history == [(1, "push", "active", None), (2, "revoke", "revoked", "撤销")]
    with pytest.raises(service.RecordError) as refused:  # archived is final
        service.revoke(session, rec=rec, reason="再撤销", actor=SYSTEM)
    assert refused.value.code == "archived" and refused.value.status == 409
    [again] = ingest(session, vault, world, [penalty(idn, name, decided_at="2026-01-10", amount=1)],
                     today=date(2031, 1, 10))
    assert again.status == "rejected" and again.errors[0]["code"] == "archived"
    [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "record.archive",
                                                       AuditEntry.object_id == str(rec.id))).all()
    assert entry.details["from"] == "revoked"


def test_rule_change_applies_to_new_records_and_on_request_to_old(session, vault, world, person):  # type: ignore[no-untyped-def]
    idn, name = person
    [old] = ingest(session, vault, world, [penalty(idn, name, source_id="OLD", decided_at="2026-03-02")])
    v1 = get_current(session, "admin_penalty")
    spec = to_data(v1.spec)
    spec["display"]["by_severity"]["general"]["max_months"] = 6
    item = update_item(session, code="admin_penalty", data=spec, actor=SYSTEM, note="shorter")
    assert item.version == 2
    [new] = ingest(session, vault, world, [penalty(idn, name, source_id="NEW", decided_at="2026-03-02")],
                   today=date(2026, 4, 1))
    assert session.get(Record, new.record_id).display_until == date(2026, 9, 2)
    old_rec = session.get(Record, old.record_id)
    assert old_rec.display_until == date(2027, 3, 2)  # untouched until asked
    assert service.recompute_display(session, item_code="admin_penalty", actor=SYSTEM, today=date(2026, 4, 1)) == 1
    session.refresh(old_rec)
    assert old_rec.display_until == date(2026, 9, 2) and old_rec.revision == 2
    # it keeps the version it was checked against; the audit names the version whose rule applied
    assert old_rec.item_id == v1.id != item.id
    audit = session.scalar(select(AuditEntry).where(AuditEntry.action == "record.recompute"))
    assert audit.details["item_version"] == 2
    assert service.recompute_display(session, item_code="admin_penalty", actor=SYSTEM, today=date(2026, 4, 1)) == 0
    # each request is audited, the one that found nothing to change too
    runs = session.scalars(select(AuditEntry).where(AuditEntry.action == "records.recompute_display")
                           .order_by(AuditEntry.id)).all()
    assert [(r.object_type, r.object_id, r.details["item_version"], r.details["changed"]) for r in runs] == [
        ("catalog_item", str(item.id), 2, 1), ("catalog_item", str(item.id), 2, 0)]


def test_a_rolled_back_catalog_edit_leaves_no_display_dates_behind(session, vault, world, person):  # type: ignore[no-untyped-def]
    """A catalog edit rolled back (a failed request) after records were checked against it leaves
    nothing behind: the next edit — on SQLite the same row id, as a rolled-back row's id is given
    again — gives its own rule's dates, not those remembered for the rolled-back version."""
    idn, name = person
    spec = to_data(get_current(session, "admin_penalty").spec)
    savepoint = session.begin_nested()
    spec["display"]["by_severity"]["general"]["max_months"] = 6
    gone = update_item(session, code="admin_penalty", data=spec, actor=SYSTEM)
    [o] = ingest(session, vault, world, [penalty(idn, name, source_id="GONE", decided_at="2026-03-02")],
                 today=date(2026, 4, 1))
    assert session.get(Record, o.record_id).display_until == date(2026, 9, 2)
    savepoint.rollback()
    spec["display"]["by_severity"]["general"]["max_months"] = 24
    kept = update_item(session, code="admin_penalty", data=spec, actor=SYSTEM)
    assert kept.version == gone.version  # the rolled-back version's number is given again
    [n] = ingest(session, vault, world, [penalty(idn, name, source_id="KEPT", decided_at="2026-03-02")],
                 today=date(2026, 4, 1))
    assert session.get(Record, n.record_id).display_until == date(2028, 3, 2)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(months=st.integers(min_value=3, max_value=36), chunk=st.integers(min_value=1, max_value=4),
       sevs=st.lists(st.sampled_from(["minor", "general", "serious"]), min_size=1, max_size=8))
def test_recompute_in_chunks_changes_exactly_what_the_rule_changes(session, vault, world, person, months, chunk, sevs):  # type: ignore[no-untyped-def]
    """Whatever the chunk size: each record whose dates or status the new rule changes gets a new
    revision (the old one in the history, a status that changes says why), the others, revoked and
    archived ones stay as they were; a second run changes nothing."""
    idn, name = person
    base = session.scalar(select(func.count()).select_from(Record)) or 0
    outs = ingest(session, vault, world, [penalty(idn, name, source_id=f"RC{base}-{i}", severity=sev,
                                                  decided_at="2025-01-10") for i, sev in enumerate(sevs)],
                  today=date(2025, 2, 1))
    ids = [o.record_id for o in outs]
    service.revoke(session, rec=session.get(Record, ids[0]), reason="撤销", actor=SYSTEM)
    spec = to_data(get_current(session, "admin_penalty").spec)
    for sev in ("general", "serious"):
        rule = spec["display"]["by_severity"][sev]
        rule["min_months"] = min(rule.get("min_months") or 0, months)
        rule["max_months"] = months
    update_item(session, code="admin_penalty", data=spec, actor=SYSTEM, note=f"{months} months")
    day = date(2026, 3, 1)
    before = {}
    for rid in ids:
        rec = session.get(Record, rid)
        session.refresh(rec)
        before[rid] = (rec.display_until, rec.status, rec.revision)
    expected = {rid for rid, (until, status, _rev) in before.items()
                if status != "revoked" and sevs[ids.index(rid)] != "minor" and until != add_months(date(2025, 1, 10), months)}
    n = service.recompute_display(session, item_code="admin_penalty", actor=SYSTEM, today=day, chunk=chunk)
    assert n >= len(expected)
    for rid in ids:
        rec = session.get(Record, rid)
        session.refresh(rec)
        until, status, rev = before[rid]
        if rid in expected:
            assert rec.display_until == add_months(date(2025, 1, 10), months) and rec.revision == rev + 1
            assert rec.change_kind == "recompute"
            assert rec.status == ("expired" if rec.display_until <= day else "active")
            if rec.status != status:
                assert rec.status_reason == "display rule changed"
            assert [r.revision for r in service.revisions_of(session, rid)] == list(range(1, rev + 1))
        elif status == "revoked":
            assert (rec.status, rec.revision) == ("revoked", rev)
    assert service.recompute_display(session, item_code="admin_penalty", actor=SYSTEM, today=day, chunk=chunk) == 0


def test_arrival_delay_in_working_days_across_national_day(session, vault, world, person):  # type: ignore[no-untyped-def]
    idn, name = person
    # decided on Sep 30 2026, arriving Oct 9 2026: Oct 1-7 are the National Day holiday; Oct 9 (Fri)
    # is a working day, and Sep 27 / Oct 10 are the adjusted working weekend days around it.
    [o] = ingest(session, vault, world, [penalty(idn, name, decided_at="2026-09-30")], today=date(2026, 10, 9))
    assert session.get(Record, o.record_id).arrival_working_days == 2  # Oct 8, Oct 9


@settings(max_examples=60, deadline=None)
@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 12, 31)), st.integers(0, 120))
def test_add_months_properties(d, n):  # type: ignore[no-untyped-def]
    r = add_months(d, n)
    assert (r.year - d.year) * 12 + r.month - d.month == n
    assert r.day <= d.day


@settings(max_examples=200, deadline=None)
@given(start=st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 12, 31)),
       shown=st.integers(0, 2000), kept=st.none() | st.integers(0, 4000), offset=st.integers(-30, 7000))
def test_status_on_a_day_expires_on_display_until_and_archives_on_retain_until(start, shown, kept, offset):  # type: ignore[no-untyped-def]
    """Display stops by itself at the maximum period: on ``display_until`` itself the record is no
    longer shown; retention ends on ``retain_until`` itself (as ``maintain`` archives on that day);
    a record with no retention (good records) is never archived."""
    from datetime import timedelta

    from xinyong.records.display import DisplayDates, status_on

    until = start + timedelta(days=shown)
    retain = None if kept is None else until + timedelta(days=kept)  # never before display ends
    dates = DisplayDates(publish=True, min_display_until=start, display_until=until, retain_until=retain)
    today = start + timedelta(days=offset)
    if retain is not None and today >= retain:
        assert status_on(dates, today) == "archived"
    elif today >= until:
        assert status_on(dates, today) == "expired"
    else:
        assert status_on(dates, today) == "active"
    assert status_on(dates, until - timedelta(days=1)) == "active"
    assert status_on(dates, until) == ("archived" if retain == until else "expired")
    if retain is not None:
        assert status_on(dates, retain) == "archived"
        assert status_on(dates, retain - timedelta(days=1)) == ("active" if retain == until else "expired")


# The domain brief's table (国办发〔2025〕22号): severity -> (published, minimum months, maximum months)
_PENALTY_PERIODS = {"minor": (False, 0, 3), "general": (True, 3, 12), "serious": (True, 12, 36)}


@settings(max_examples=150, deadline=None)
@given(severity=st.sampled_from(sorted(_PENALTY_PERIODS)),
       decided=st.dates(min_value=date(2005, 1, 1), max_value=date(2026, 11, 26)),
       ended_before=st.none() | st.integers(0, 3000), no_fields=st.booleans())
def test_penalty_dates_follow_the_national_table_with_or_without_fields(severity, decided, ended_before, no_fields):  # type: ignore[no-untyped-def]
    """The shipped catalog's penalty rule, with no database: published or not, minimum and maximum
    periods from the decision; kept 5 years from the end of the act where the record gives it, else
    from the decision, and never archived before display ends. ``fields`` may be left out."""
    from datetime import timedelta

    from xinyong.catalog.service import read_yaml
    from xinyong.records.display import compute

    spec = {s.code: s for s in read_yaml()}["admin_penalty"]
    publish, low, high = _PENALTY_PERIODS[severity]
    ended = None if ended_before is None or no_fields else decided - timedelta(days=ended_before)
    got = compute(spec, severity, decided) if no_fields else compute(
        spec, severity, decided, {"amount": 1} if ended is None else {"act_ended_on": ended.isoformat()})
    assert got.publish is publish
    assert got.min_display_until == add_months(decided, low)
    assert got.display_until == add_months(decided, high)
    assert got.retain_until == max(add_months(ended or decided, 60), got.display_until)


@pytest.mark.parametrize(("today", "status"), [(date(2027, 3, 1), "active"), (date(2027, 3, 2), "expired"),
                                               (date(2030, 11, 19), "expired"), (date(2030, 11, 20), "archived")])
def test_a_record_arriving_late_gets_the_status_of_its_arrival_day(session, vault, world, person, today, status):  # type: ignore[no-untyped-def]
    """A general penalty decided 2026-03-02 is shown until 2027-03-02 (1 year) and kept until 5 years
    after the end of its act (2025-11-20 → 2030-11-20): pushed on or after either day, it arrives
    ended (not shown) or archived, as ``maintain`` would have left it."""
    idn, name = person
    [o] = ingest(session, vault, world, [penalty(idn, name, severity="general", decided_at="2026-03-02",
                                                 act_ended_on="2025-11-20")], today=today)
    assert o.status == "created"
    rec = session.get(Record, o.record_id)
    assert (rec.display_until, rec.retain_until) == (date(2027, 3, 2), date(2030, 11, 20))
    assert rec.status == status


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
                     lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=10), c, max_size=4),
                     max_leaves=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(_json, st.fixed_dictionaries(
    {"item": st.sampled_from(["admin_penalty", "honor", "x", ""]), "id_number": st.text(max_size=20),
     "name": st.text(max_size=5), "source_id": st.text(max_size=5) | st.integers(),
     "decided_at": st.text(max_size=12), "severity": st.text(max_size=8),
     "fields": st.dictionaries(st.sampled_from(["amount", "level", "title", "zzz"]), _json, max_size=3)})),
    min_size=1, max_size=5))
def test_random_records_never_crash_and_nothing_invalid_stored(db, vault, world, recs):  # type: ignore[no-untyped-def]
    with db.session() as s:
        items = current_items(s)
        out = service.ingest(s, vault=vault, department=service.DepartmentRef(world.dept_a.id, world.dept_a.code),
                             records=recs, actor=SYSTEM, items=items)
        assert len(out) == len(recs)
        for o in out:
            assert o.status in ("created", "updated", "unchanged", "rejected")
            assert (o.status == "rejected") == bool(o.errors)
            assert o.status == "rejected"  # random text is never a valid ID number here


# Values a client's JSON can carry that a plain text strategy never draws: lone surrogates ("\ud800"
# escapes), integers past 64 bits, floats at the ends of the range, NaN and infinities.
_edge_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()) | st.sampled_from(["\ud800", "\udfff"]),
                     max_size=12)
_edge = st.one_of(st.sampled_from(["a\ud800b", "\udfff", 10**20, -(10**25), 2**63, 1e308, float("nan")]),
                  _edge_text, st.integers(min_value=-(10**30), max_value=10**30),
                  st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
                  st.lists(st.integers(), max_size=2))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["name", "source_id", "severity", "fields.amount", "fields.violation",
                                           "fields.decision_no", "fields.penalty_type"]), _edge),
                min_size=1, max_size=2))
def test_a_valid_record_with_random_values_never_crashes_the_batch(db, vault, world, person, changes):  # type: ignore[no-untyped-def]
    """A good record and a copy with random values in a few places, in one batch: the good one is
    stored whatever the copy holds, the copy is stored only if its values are valid (before, a
    lone surrogate or a 70-bit integer failed the whole batch with a 500)."""
    idn, name = person
    bad = penalty(idn, name, source_id="FUZZ-B")
    for where, value in changes:
        if where.startswith("fields."):
            bad["fields"][where[len("fields."):]] = value
        else:
            bad[where] = value
    with db.session() as s:
        out = service.ingest(s, vault=vault, department=service.DepartmentRef(world.dept_a.id, world.dept_a.code),
                             records=[penalty(idn, name, source_id="FUZZ-G"), bad], actor=SYSTEM)
        assert out[0].status in ("created", "unchanged") and not out[0].errors
        assert out[1].status in ("created", "updated", "unchanged", "rejected")
        assert (out[1].status == "rejected") == bool(out[1].errors)
        if out[1].status != "rejected":
            stored = s.get(Record, out[1].record_id)
            amount = stored.fields.get("amount")
            assert amount is None or (isinstance(amount, int | float) and abs(amount) <= 2**53 - 1)
            for v in (stored.source_id, *(x for x in stored.fields.values() if isinstance(x, str))):
                assert not any(0xD800 <= ord(c) <= 0xDFFF for c in v)
        s.rollback()


def test_recompute_leaves_records_whose_severity_the_new_rule_no_longer_names(session, vault, world, person):  # type: ignore[no-untyped-def]
    """A new version without the ``minor`` severity has no rule for the minor penalties already
    stored: recomputing keeps their dates (before, they fell back to a made-up rule and a minor
    penalty, never published, became public for three years)."""
    idn, name = person
    minor, general = ingest(session, vault, world, [
        penalty(idn, name, source_id="MIN", severity="minor", decided_at="2026-11-01"),
        penalty(idn, name, source_id="GEN", severity="general", decided_at="2026-11-01")])
    spec = to_data(get_current(session, "admin_penalty").spec)
    spec["severities"] = ["general", "serious"]
    del spec["display"]["by_severity"]["minor"]
    spec["display"]["by_severity"]["general"]["max_months"] = 6
    update_item(session, code="admin_penalty", data=spec, actor=SYSTEM, note="minor no longer recorded")
    assert service.recompute_display(session, item_code="admin_penalty", actor=SYSTEM, today=TODAY) == 1
    rec = session.get(Record, minor.record_id)
    session.refresh(rec)
    assert (rec.publish, rec.display_until, rec.revision) == (False, date(2027, 2, 1), 1)
    assert session.get(Record, general.record_id).display_until == date(2027, 5, 1)


def test_a_catalog_change_note_keeps_no_id_number_in_the_clear(session):  # type: ignore[no-untyped-def]
    """The change note is kept with the version, shown in the item's history and audited: an ID number
    written in it (the complaint that prompted the change, say) is kept masked, as a revocation
    reason's is; the rest of the note as written."""
    from xinyong.catalog.models import CatalogItem
    from xinyong.catalog.service import load_default

    if get_current(session, "admin_penalty") is None:
        load_default(session, actor=SYSTEM)
    spec = to_data(get_current(session, "admin_penalty").spec)
    spec["legal_basis"] = spec["legal_basis"] + "；"
    item = update_item(session, code="admin_penalty", data=spec, actor=SYSTEM,
                       note="依李四（11010519491231002X）投诉，补充依据")
    row = session.scalar(select(CatalogItem).where(CatalogItem.code == "admin_penalty",
                                                   CatalogItem.version == item.version))
    assert row.change_note == "依李四（110105********002X）投诉，补充依据"
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "catalog.update")
                            .order_by(AuditEntry.id.desc())).first()
    assert "11010519491231002X" not in str(entry.details) and "110105********002X" in str(entry.details)


@pytest.mark.parametrize("corrected", ["2026-09-01", "2026-10-08", "2026-09-30"])
def test_a_corrected_decision_date_moves_the_arrival_delay(session, vault, world, person, corrected):  # type: ignore[no-untyped-def]
    """The delay counts from the decision to the day the record first arrived. A department that
    corrects ``decided_at`` later (a typo in the first push) corrects the delay too: the data-quality
    figures kept the first date's delay, so a record really weeks late stayed "on time"."""
    from xinyong.workdays import working_days_between

    idn, name = person
    [o] = ingest(session, vault, world, [penalty(idn, name, decided_at="2026-09-30")], today=date(2026, 10, 9))
    assert session.get(Record, o.record_id).arrival_working_days == 2
    [u] = ingest(session, vault, world, [penalty(idn, name, decided_at=corrected)], today=date(2026, 11, 20))
    assert u.status == ("unchanged" if corrected == "2026-09-30" else "updated")
    session.expire_all()
    got = session.get(Record, o.record_id).arrival_working_days
    assert got == working_days_between(date.fromisoformat(corrected), date(2026, 10, 9)), got


def test_a_decision_date_corrected_past_the_arrival_and_back_keeps_the_arrival_day(session, vault, world, person):  # type: ignore[no-untyped-def]
    """A correction to a date after the record's first arrival leaves a delay of 0: the arrival day is
    no longer on the stored delay. A second correction back before the arrival must still count to the
    arrival day (the day the record was received), not to the intermediate date."""
    from datetime import datetime, time

    from sqlalchemy import update

    from xinyong import clock
    from xinyong.workdays import working_days_between

    idn, name = person
    [o] = ingest(session, vault, world, [penalty(idn, name, decided_at="2026-09-30")], today=date(2026, 10, 9))
    # received on its arrival day, as a push is (the tests' ``today`` is not the wall clock's)
    session.execute(update(Record).where(Record.id == o.record_id).values(
        received_at=datetime.combine(date(2026, 10, 9), time(10), clock.zone())))
    session.flush()
    [u] = ingest(session, vault, world, [penalty(idn, name, decided_at="2026-11-02")], today=date(2026, 11, 20))
    assert u.status == "updated"
    session.expire_all()
    assert session.get(Record, o.record_id).arrival_working_days == 0  # decided after it arrived
    [u] = ingest(session, vault, world, [penalty(idn, name, decided_at="2026-09-01")], today=date(2026, 11, 25))
    assert u.status == "updated"
    session.expire_all()
    got = session.get(Record, o.record_id).arrival_working_days
    assert got == working_days_between(date(2026, 9, 1), date(2026, 10, 9)), got


def test_an_update_that_keeps_the_decision_date_keeps_the_arrival_delay(session, vault, world, person):  # type: ignore[no-untyped-def]
    """The delay counts from the decision to the record's first arrival: a later push that changes other
    content (the fine corrected) moves neither end, so the delay stays as it was."""
    idn, name = person
    [o] = ingest(session, vault, world, [penalty(idn, name, decided_at="2026-09-30")], today=date(2026, 10, 9))
    [u] = ingest(session, vault, world, [penalty(idn, name, decided_at="2026-09-30", amount=3000)],
                 today=date(2026, 11, 20))
    assert u.status == "updated"
    session.expire_all()
    assert session.get(Record, o.record_id).arrival_working_days == 2  # Oct 8, Oct 9


@pytest.mark.parametrize("corrected", ["2026-09-01", "2026-11-02", "2026-09-30"])
def test_an_unknown_arrival_delay_stays_unknown_when_the_record_is_corrected(session, vault, world, person, corrected):  # type: ignore[no-untyped-def]
    """A record from before delays were kept has none: a correction, of its decision date or not,
    leaves it unknown rather than making one up (or failing the push)."""
    from sqlalchemy import update

    idn, name = person
    [o] = ingest(session, vault, world, [penalty(idn, name, decided_at="2026-09-30")], today=date(2026, 10, 9))
    session.execute(update(Record).where(Record.id == o.record_id).values(arrival_working_days=None))
    session.flush()
    [u] = ingest(session, vault, world, [penalty(idn, name, decided_at=corrected, amount=3000)],
                 today=date(2026, 11, 20))
    assert u.status == "updated"
    session.expire_all()
    assert session.get(Record, o.record_id).arrival_working_days is None


def _debtor(idn, name, source_id="D1", decided_at="2025-06-30", **fields):  # type: ignore[no-untyped-def]
    return {"item": "dishonest_debtor", "id_number": idn, "name": name, "source_id": source_id,
            "decided_at": decided_at, "fields": {"case_no": "(2025)津0101执1号", "court": "和平区人民法院",
                                                 "obligation": "给付", "circumstance": "拒不履行", **fields}}


@pytest.mark.parametrize(("years", "until"), [(0, date(2027, 6, 30)), (1, date(2028, 6, 30)),
                                              (3, date(2030, 6, 30))])
def test_a_debtors_listing_extended_by_the_court_is_shown_longer(session, vault, world, person, years, until):  # type: ignore[no-untyped-def]
    """法释〔2017〕7号 Art. 2: two years, extendable by one to three; the record says by how many."""
    idn, name = person
    [o] = ingest(session, vault, world, [_debtor(idn, name, extension_years=years)])
    rec = session.get(Record, o.record_id)
    assert rec.display_until == until
    assert rec.retain_until == max(date(2030, 6, 30), until)


def test_an_extension_decided_later_moves_the_display_of_the_record(session, vault, world, person):  # type: ignore[no-untyped-def]
    idn, name = person
    [o] = ingest(session, vault, world, [_debtor(idn, name)], today=date(2027, 1, 5))
    [again] = ingest(session, vault, world, [_debtor(idn, name, extension_years=2)], today=date(2027, 6, 1))
    assert (again.status, again.record_id) == ("updated", o.record_id)
    rec = session.get(Record, o.record_id)
    assert (rec.display_until, rec.revision) == (date(2029, 6, 30), 2)
    # kept shown past the two years: maintain on the old end leaves it active
    service.maintain(session, actor=SYSTEM, today=date(2027, 6, 30))
    session.refresh(rec)
    assert rec.status == "active"


@pytest.mark.parametrize("years", [4, -1, "two"])
def test_an_extension_outside_one_to_three_years_is_refused(session, vault, world, person, years):  # type: ignore[no-untyped-def]
    idn, name = person
    [o] = ingest(session, vault, world, [_debtor(idn, name, extension_years=years)])
    assert o.status == "rejected"
    assert [e["field"] for e in o.errors] == ["fields.extension_years"]


def test_retention_counts_from_the_end_of_the_act_where_the_record_gives_it(session, vault, world, person):  # type: ignore[no-untyped-def]
    """征信业管理条例 Art. 16: kept 5 years from the end of the act; without the date, from the decision."""
    idn, name = person
    with_end, without = ingest(session, vault, world, [
        penalty(idn, name, source_id="E", severity="general", decided_at="2026-03-02",
                act_ended_on="2025-11-20"),
        penalty(idn, name, source_id="N", severity="general", decided_at="2026-03-02"),
    ])
    assert session.get(Record, with_end.record_id).retain_until == date(2030, 11, 20)
    assert session.get(Record, without.record_id).retain_until == date(2031, 3, 2)
    # an act that ended long before: never archived before its display ends
    [old] = ingest(session, vault, world, [penalty(idn, name, source_id="O", severity="serious",
                                                   decided_at="2026-03-02", act_ended_on="2020-01-01")])
    rec = session.get(Record, old.record_id)
    assert rec.retain_until == rec.display_until == date(2029, 3, 2)


def test_an_end_of_the_act_after_today_is_refused(session, vault, world, person):  # type: ignore[no-untyped-def]
    idn, name = person
    [o] = ingest(session, vault, world, [penalty(idn, name, severity="general", decided_at="2026-03-02",
                                                 act_ended_on="2026-11-27")])
    assert o.status == "rejected"
    assert [(e["field"], e["code"]) for e in o.errors] == [("fields.act_ended_on", "future_date")]
    assert "违法失信行为终止日期" in o.errors[0]["message"]


def test_recompute_reads_the_records_own_extension_and_end_of_act(session, vault, world, person):  # type: ignore[no-untyped-def]
    """A rule change applied on request keeps each record's field-dependent dates."""
    idn, name = person
    ext, end = ingest(session, vault, world, [
        _debtor(idn, name, source_id="X", extension_years=1),
        _debtor(idn, name, source_id="Y", act_ended_on="2026-01-15"),
    ])
    spec = to_data(get_current(session, "dishonest_debtor").spec)
    spec["display"]["default"]["max_months"] = 36
    update_item(session, code="dishonest_debtor", data=spec, actor=SYSTEM, note="three years")
    assert service.recompute_display(session, item_code="dishonest_debtor", actor=SYSTEM, today=TODAY) == 2
    assert session.get(Record, ext.record_id).display_until == date(2029, 6, 30)  # 36 + 12 months
    assert session.get(Record, end.record_id).retain_until == date(2031, 1, 15)


@pytest.mark.parametrize(("change", "path"), [
    ({"display": {"default": {"max_months": 24}, "extension": {"field": "court", "months": 12}}},
     "display.extension.field"),
    ({"display": {"default": {"max_months": 24}, "extension": {"field": "extension_years", "months": 0}}},
     "display.extension.months"),
    ({"retention": {"years": 5, "from_field": "case_no"}}, "retention.from_field"),
    ({"retention": {"from_field": "act_ended_on"}}, "retention.years"),
])
def test_a_field_dependent_rule_naming_the_wrong_field_is_refused(session, change, path):  # type: ignore[no-untyped-def]
    from xinyong.catalog.spec import SpecError, parse_item

    spec = to_data(get_current(session, "dishonest_debtor").spec)
    spec.update(change)
    with pytest.raises(SpecError) as exc:
        parse_item(spec, "item")
    assert exc.value.path == f"item.{path}"


def test_the_field_dependent_rules_survive_a_round_trip_and_the_edit_form(session):  # type: ignore[no-untyped-def]
    from xinyong.catalog.spec import parse_item

    spec = get_current(session, "dishonest_debtor").spec
    assert (spec.display_extension, spec.retention_from) == (("extension_years", 12), "act_ended_on")
    assert parse_item(to_data(spec)) == spec


def test_an_update_that_moves_the_status_says_so(session, vault, world, person):  # type: ignore[no-untyped-def]
    """A record whose display had ended, updated with a later decision (a correction), is shown again:
    its status is ``active`` and no longer carries the ended display's reason ("display period
    ended", shown as 展示期满 beside 生效中 on its page and on its push revision), and the status's
    time is the update's (found by tests/records/test_ingest_stateful.py)."""
    idn, name = person
    [o] = ingest(session, vault, world, [penalty(idn, name, decided_at="2026-01-10")], today=date(2026, 2, 1))
    assert service.maintain(session, actor=SYSTEM, today=date(2027, 1, 10)).expired == 1
    rec = session.get(Record, o.record_id)
    ended_at = rec.status_changed_at
    assert (rec.status, rec.status_reason) == ("expired", "display period ended")
    [u] = ingest(session, vault, world, [penalty(idn, name, decided_at="2027-01-05")], today=date(2027, 1, 10))
    assert u.status == "updated"
    session.refresh(rec)
    assert (rec.status, rec.revision, rec.change_kind) == ("active", 3, "push")
    assert rec.status_reason is None
    assert rec.status_changed_at is not None and rec.status_changed_at > ended_at
    assert [(r.kind, r.status, r.reason) for r in service.revisions_of(session, rec.id)] == [
        ("push", "active", None), ("expire", "expired", "display period ended")]
    # an update that leaves the status as it was keeps its reason and time
    assert service.maintain(session, actor=SYSTEM, today=date(2028, 1, 10)).expired == 1
    session.refresh(rec)
    ended_at = rec.status_changed_at
    [u] = ingest(session, vault, world, [penalty(idn, name, decided_at="2027-01-05", amount=3000)],
                 today=date(2028, 1, 10))
    session.refresh(rec)
    assert (u.status, rec.status, rec.status_reason, rec.status_changed_at) == (
        "updated", "expired", "display period ended", ended_at)
