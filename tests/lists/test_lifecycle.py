"""A dishonesty listing step by step, with its working-day deadline, its refusals and its audit trail."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from tests.lists.lists_support import person
from tests.support import SYSTEM

from xinyong import events
from xinyong.audit.models import AuditEntry
from xinyong.audit.service import Actor
from xinyong.lists import service
from xinyong.lists.models import ListEntry
from xinyong.workdays import add_working_days, working_days_between

pytestmark = pytest.mark.usefixtures("lists_loaded")

OFFICER = Actor(type="user", id="7", label="officer_a")
ADMIN = Actor(type="user", id="1", label="admin")


def _propose(session, world, subject, code="serious_dishonesty", category="harm_health_life"):  # type: ignore[no-untyped-def]
    return service.propose(session, code=code, subject_id=subject.id, reason="销售假药致人伤亡", category=category,
                           department_id=world.dept_a.id, actor=OFFICER)


def _actions(session, entry_id):  # type: ignore[no-untyped-def]
    return [(a.action, a.actor_label) for a in session.scalars(
        select(AuditEntry).where(AuditEntry.object_type == "list_entry", AuditEntry.object_id == str(entry_id))
        .order_by(AuditEntry.id))]


@pytest.fixture
def announced():  # type: ignore[no-untyped-def]
    seen: list[events.ListsChanged] = []
    events.on_lists_changed("test_lists_probe")(lambda _s, e: seen.append(e))
    yield seen
    events._lists_handlers[:] = [(n, h) for n, h in events._lists_handlers if n != "test_lists_probe"]


def test_whole_lifecycle_with_deadline_and_audit(session, world, vault, announced):  # type: ignore[no-untyped-def]
    subject = person(session, vault)
    entry = _propose(session, world, subject)
    assert (entry.status, entry.department_id, entry.category) == ("proposed", world.dept_a.id, "harm_health_life")
    assert entry.legal_basis and "国办发" in entry.legal_basis  # the kind's default basis
    service.notify(session, entry=entry, actor=OFFICER, today=date(2026, 11, 2))
    assert entry.status == "notified"
    assert entry.defence_deadline == add_working_days(date(2026, 11, 2), 5) == date(2026, 11, 9)
    service.defend(session, entry=entry, text="本人不知情，已退赔", actor=Actor(type="user", id="9", label="zhangsan"),
                   today=date(2026, 11, 9))
    assert entry.defence == "本人不知情，已退赔" and entry.defence_by == "zhangsan"
    # A defence was received: the credit office may decide before the deadline.
    service.decide(session, entry=entry, listed=True, reason="申辩理由不成立", actor=ADMIN, today=date(2026, 11, 9))
    assert (entry.status, entry.listed_on, entry.valid_until) == ("listed", date(2026, 11, 9), date(2029, 11, 9))
    service.remove(session, entry=entry, kind="repair", reason="完成信用修复", actor=ADMIN)
    assert (entry.status, entry.removal_kind, entry.removed_by) == ("removed", "repair", "admin")
    assert _actions(session, entry.id) == [("list_entry.propose", "officer_a"), ("list_entry.notify", "officer_a"),
                                           ("list_entry.defend", "zhangsan"), ("list_entry.decide", "admin"),
                                           ("list_entry.remove", "admin")]
    assert [e.reason for e in announced] == ["proposed", "notified", "listed", "removed"]
    assert all(e.subject_ids == {subject.id} and e.entry_ids == {entry.id} for e in announced)


def test_deadline_crosses_national_day(session, world, vault):  # type: ignore[no-untyped-def]
    entry = _propose(session, world, person(session, vault))
    service.notify(session, entry=entry, actor=OFFICER, today=date(2026, 9, 30))
    # 1-7 October 2026 are the National Day holiday: five working days end on 13 October
    # (8, 9, 10 — an adjusted working Saturday — 12 and 13), not on 7 October.
    assert entry.defence_deadline == date(2026, 10, 13)
    assert working_days_between(date(2026, 9, 30), entry.defence_deadline) == 5
    service.defend(session, entry=entry, text="最后一天提交申辩", actor=OFFICER, today=date(2026, 10, 13))
    assert entry.defence_at is not None


def test_defence_after_deadline_is_refused(session, world, vault):  # type: ignore[no-untyped-def]
    entry = _propose(session, world, person(session, vault))
    service.notify(session, entry=entry, actor=OFFICER, today=date(2026, 9, 30))
    with pytest.raises(service.ListError) as exc:
        service.defend(session, entry=entry, text="迟到的申辩", actor=OFFICER, today=date(2026, 10, 14))
    assert (exc.value.code, exc.value.status, exc.value.field) == ("defence_too_late", 409, "defence")
    assert "2026-10-13" in exc.value.zh and "2026-10-13" in exc.value.en
    assert entry.defence is None


def test_decide_waits_for_deadline_without_defence(session, world, vault):  # type: ignore[no-untyped-def]
    entry = _propose(session, world, person(session, vault))
    service.notify(session, entry=entry, actor=OFFICER, today=date(2026, 9, 30))
    with pytest.raises(service.ListError) as exc:
        service.decide(session, entry=entry, listed=True, reason="列入", actor=ADMIN, today=date(2026, 10, 13))
    assert exc.value.code == "defence_period_running" and entry.status == "notified"
    service.decide(session, entry=entry, listed=True, reason="申辩期满未申辩", actor=ADMIN, today=date(2026, 10, 14))
    assert entry.status == "listed" and entry.listed_on == date(2026, 10, 14)


def test_reject_and_propose_again(session, world, vault):  # type: ignore[no-untyped-def]
    subject = person(session, vault)
    entry = _propose(session, world, subject)
    service.notify(session, entry=entry, actor=OFFICER, today=date(2026, 11, 2))
    service.decide(session, entry=entry, listed=False, reason="证据不足", actor=ADMIN, today=date(2026, 11, 3))
    assert entry.status == "rejected" and entry.decision_reason == "证据不足"
    again = _propose(session, world, subject)  # a rejected entry is not open
    assert again.id != entry.id


@pytest.mark.parametrize(("status_code", "step"), [
    ("already_on_list", "duplicate"), ("not_listed", "remove_proposed"), ("not_notified", "decide_proposed"),
    ("not_notified", "defend_proposed"), ("not_proposed", "notify_twice"), ("defence_exists", "defend_twice"),
    ("already_decided", "reject_listed"), ("already_decided", "list_listed"), ("already_decided", "reject_rejected"),
    ("already_decided", "list_rejected"), ("already_decided", "reject_removed"),
])
def test_refusals_by_state(session, world, vault, status_code, step):  # type: ignore[no-untyped-def]
    subject = person(session, vault)
    entry = _propose(session, world, subject)
    day = date(2026, 11, 2)
    with pytest.raises(service.ListError) as exc:
        if step == "duplicate":
            _propose(session, world, subject)
        elif step == "remove_proposed":
            service.remove(session, entry=entry, kind="decision", reason="移出", actor=ADMIN)
        elif step == "decide_proposed":
            service.decide(session, entry=entry, listed=True, reason="列入", actor=ADMIN, today=day)
        elif step == "defend_proposed":
            service.defend(session, entry=entry, text="申辩", actor=OFFICER, today=day)
        elif step.endswith(("_listed", "_rejected", "_removed")):  # a decision on an entry decided already
            service.notify(session, entry=entry, actor=OFFICER, today=day)
            first = not step.endswith("_rejected")
            service.decide(session, entry=entry, listed=first, reason="决定", actor=ADMIN, today=date(2026, 12, 1))
            if step.endswith("_removed"):
                service.remove(session, entry=entry, kind="decision", reason="移出", actor=ADMIN)
            service.decide(session, entry=entry, listed=step.startswith("list_"), reason="再次决定", actor=ADMIN,
                           today=date(2026, 12, 2))
        elif step == "notify_twice":
            service.notify(session, entry=entry, actor=OFFICER, today=day)
            service.notify(session, entry=entry, actor=OFFICER, today=day)
        else:
            service.notify(session, entry=entry, actor=OFFICER, today=day)
            service.defend(session, entry=entry, text="申辩", actor=OFFICER, today=day)
            service.defend(session, entry=entry, text="再次申辩", actor=OFFICER, today=day)
    assert exc.value.code == status_code and exc.value.status == 409
    assert "/" not in exc.value.code and exc.value.zh and exc.value.en
    if status_code == "already_decided":
        assert exc.value.field == "status" and entry.status in exc.value.en and "已有决定" in exc.value.zh


def test_duplicate_for_every_open_status(session, world, vault):  # type: ignore[no-untyped-def]
    subject = person(session, vault)
    entry = _propose(session, world, subject)
    for step in ("proposed", "notified", "listed"):
        if step == "notified":
            service.notify(session, entry=entry, actor=OFFICER, today=date(2026, 9, 1))
        if step == "listed":
            service.decide(session, entry=entry, listed=True, reason="列入", actor=ADMIN, today=date(2026, 10, 1))
        assert entry.status == step
        with pytest.raises(service.ListError) as exc:
            _propose(session, world, subject)
        assert exc.value.code == "already_on_list"
    # Another list is another matter.
    other = _propose(session, world, subject, code="key_supervision", category="telecom_fraud")
    assert other.status == "proposed"


@pytest.mark.parametrize(("kwargs", "code", "field"), [
    ({"code": "no_such_list"}, "unknown_list", "list"),
    ({"category": "no_such_category"}, "unknown_category", "category"),
    ({"category": None}, "missing", "category"),
    ({"code": "key_supervision", "category": "harm_health_life"}, "unknown_category", "category"),
    ({"code": "red_recommended", "category": None}, "not_dishonesty_list", "list"),
    ({"code": "dishonest_debtor", "category": None}, "catalog_fed", "list"),
    ({"reason": "  "}, "missing", "reason"),
    ({"reason": "a\x00b"}, "invalid_characters", "reason"),
    ({"department_id": None}, "department_required", "department"),
    ({"subject_id": 10**12}, "unknown_subject", "subject_id"),
])
def test_proposal_refusals(session, world, vault, kwargs, code, field):  # type: ignore[no-untyped-def]
    subject = person(session, vault)
    args = {"code": "serious_dishonesty", "subject_id": subject.id, "reason": "理由", "category": "harm_health_life",
            "department_id": world.dept_a.id, "actor": OFFICER, **kwargs}
    before = session.scalars(select(ListEntry.id)).all()
    with pytest.raises(service.ListError) as exc:
        service.propose(session, **args)
    assert (exc.value.code, exc.value.field) == (code, field)
    assert session.scalars(select(ListEntry.id)).all() == before


def test_every_key_supervision_category_is_accepted(session, world, vault):  # type: ignore[no-untyped-def]
    kind = service.get_kind(session, "key_supervision")
    cats = service.categories_of(kind)
    assert len(cats) == 10 and "telecom_fraud" in cats and cats["telecom_fraud"]["name_zh"] == "电信诈骗"
    assert len(service.categories_of(service.get_kind(session, "serious_dishonesty"))) == 4
    for code in cats:
        e = _propose(session, world, person(session, vault), code="key_supervision", category=code)
        assert e.category == code


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(day=st.dates(min_value=date(2004, 1, 1), max_value=date(2026, 12, 20)), n=st.integers(1, 20))
def test_deadline_is_n_working_days_after_notice(session, world, vault, day, n):  # type: ignore[no-untyped-def]
    kind = service.get_kind(session, "key_supervision")
    kind.params = {**kind.params, "defence_working_days": n}
    entry = _propose(session, world, person(session, vault), code="key_supervision", category="bribery")
    service.notify(session, entry=entry, actor=OFFICER, today=day)
    assert working_days_between(day, entry.defence_deadline) == n
    assert working_days_between(day, entry.defence_deadline - __import__("datetime").timedelta(days=1)) == n - 1
    session.delete(entry)
    session.flush()


def test_red_list_by_decision_and_expiry(session, world, vault, announced):  # type: ignore[no-untyped-def]
    subject = person(session, vault)
    entry = service.add(session, code="red_recommended", subject_id=subject.id, reason="区律师协会推荐",
                        actor=ADMIN, today=date(2026, 1, 15))
    assert (entry.status, entry.source, entry.listed_on, entry.valid_until) == (
        "listed", "decision", date(2026, 1, 15), date(2029, 1, 15))
    with pytest.raises(service.ListError) as exc:
        service.add(session, code="red_recommended", subject_id=subject.id, reason="再次推荐", actor=ADMIN)
    assert exc.value.code == "already_on_list"
    with pytest.raises(service.ListError) as exc:
        service.add(session, code="serious_dishonesty", subject_id=subject.id, reason="直接列入", actor=ADMIN)
    assert exc.value.code == "not_red_list"
    assert service.expire(session, today=date(2029, 1, 14), actor=SYSTEM) == 0
    assert service.expire(session, today=date(2029, 1, 15), actor=SYSTEM) == 1
    session.refresh(entry)
    assert (entry.status, entry.removal_kind) == ("removed", "expiry")
    assert service.expire(session, today=date(2029, 1, 15), actor=SYSTEM) == 0  # idempotent
    assert announced[-1].reason == "expired" and announced[-1].entry_ids == {entry.id}
    assert announced[-1].today == date(2029, 1, 15)  # the day the expiry counts on, for the regrading
    audit = session.scalar(select(AuditEntry).where(AuditEntry.action == "lists.expire"))
    assert audit.details["entries"] == [[entry.id, "red_recommended", subject.id]]


def test_removal_kind_is_checked(session, world, vault):  # type: ignore[no-untyped-def]
    entry = service.add(session, code="red_recommended", subject_id=person(session, vault).id, reason="推荐",
                        actor=ADMIN)
    with pytest.raises(service.ListError) as exc:
        service.remove(session, entry=entry, kind="whim", reason="移出", actor=ADMIN)
    assert exc.value.code == "unknown_removal_kind"
    # "rule" is the rule lists' own removal (refresh), not a decision anyone takes by hand
    with pytest.raises(service.ListError) as exc:
        service.remove(session, entry=entry, kind="rule", reason="移出", actor=ADMIN)
    assert (exc.value.code, exc.value.field) == ("unknown_removal_kind", "kind")
    assert "expiry" in exc.value.message and "rule" not in exc.value.message
    service.remove(session, entry=entry, kind="decision", reason="协会撤回推荐", actor=ADMIN)
    with pytest.raises(service.ListError) as exc:
        service.remove(session, entry=entry, kind="decision", reason="再次移出", actor=ADMIN)
    assert exc.value.code == "not_listed"


def test_an_expiry_as_of_a_day_regrades_as_of_that_day(session, world, vault, monkeypatch):  # type: ignore[no-untyped-def]
    """``maintain --today D`` expires listings as of D; the scoring handler regrades their subjects
    as of D too (it counted the machine's day, leaving a status a recomputation on D differs from)."""
    from xinyong.scoring import service as scoring

    days: list[date] = []
    real = scoring.refresh

    def refresh(session_, subject_ids, *, today, **kw):  # type: ignore[no-untyped-def]
        days.append(today)
        return real(session_, subject_ids, today=today, **kw)

    monkeypatch.setattr(scoring, "refresh", refresh)
    subject = person(session, vault)
    service.add(session, code="red_recommended", subject_id=subject.id, reason="推荐", actor=ADMIN,
                today=date(2026, 1, 15))
    days.clear()
    assert service.expire(session, today=date(2029, 1, 15), actor=SYSTEM) == 1
    assert days == [date(2029, 1, 15)]


def test_reject_a_proposal_not_yet_notified(session, world, vault):  # type: ignore[no-untyped-def]
    """proposed ──decide(reject)──▶ rejected (docs/lists.md): the credit office can turn a proposal
    down before the person is told (it stayed open, blocking a new proposal, until notified)."""
    subject = person(session, vault)
    entry = _propose(session, world, subject)
    service.decide(session, entry=entry, listed=False, reason="认定对象有误", actor=ADMIN, today=date(2026, 11, 3))
    assert (entry.status, entry.decision_reason, entry.listed_on) == ("rejected", "认定对象有误", None)
    assert ("list_entry.decide", "admin") in _actions(session, entry.id)
    assert _propose(session, world, subject).status == "proposed"  # no longer open


def test_red_and_dishonest_never_at_once(session, world, vault, announced):  # type: ignore[no-untyped-def]
    """A red list is for good credit. A red listing by decision is refused for someone listed for
    dishonesty, and a dishonesty listing ends the red listings the credit office had added, in the
    decision's transaction (the lists' handler of its announcement), audited."""
    subject = person(session, vault)
    red = service.add(session, code="red_recommended", subject_id=subject.id, reason="区律师协会推荐", actor=ADMIN,
                      today=date(2026, 11, 2))
    entry = _propose(session, world, subject)
    service.notify(session, entry=entry, actor=OFFICER, today=date(2026, 11, 2))
    service.decide(session, entry=entry, listed=True, reason="申辩期届满", actor=ADMIN, today=date(2026, 11, 10))
    session.refresh(red)
    assert (red.status, red.removal_kind) == ("removed", "rule") and "失信" in red.removal_reason
    audit = session.scalar(select(AuditEntry).where(AuditEntry.action == "lists.dishonesty_ends_red"))
    assert audit.details["entries"] == [[red.id, "red_recommended", subject.id]]
    assert any(e.reason == "removed" and red.id in e.entry_ids for e in announced)
    session.refresh(entry)
    assert entry.status == "listed"
    with pytest.raises(service.ListError) as exc:
        service.add(session, code="red_recommended", subject_id=subject.id, reason="再次推荐", actor=ADMIN)
    assert (exc.value.code, exc.value.status, exc.value.field) == ("listed_dishonest", 409, "subject_id")
    # once the dishonesty listing ends, the person may be recommended again
    service.remove(session, entry=entry, kind="repair", reason="完成信用修复", actor=ADMIN)
    again = service.add(session, code="red_recommended", subject_id=subject.id, reason="再次推荐", actor=ADMIN)
    assert again.status == "listed"


def test_the_daily_upkeep_ends_red_listings_of_people_listed_for_dishonesty(session, world, vault):  # type: ignore[no-untyped-def]
    """A person both red by decision and listed for dishonesty (made before the rule, or through a
    catalog item edited since) has the red listing ended by ``maintain``, once: a second run ends nothing."""
    from sqlalchemy import update

    subject, clean = person(session, vault), person(session, vault)
    entry = _propose(session, world, subject)
    service.notify(session, entry=entry, actor=OFFICER, today=date(2026, 11, 2))
    service.decide(session, entry=entry, listed=True, reason="申辩期届满", actor=ADMIN, today=date(2026, 11, 10))
    red = service.add(session, code="red_recommended", subject_id=clean.id, reason="推荐", actor=ADMIN)
    kept = service.add(session, code="red_moral_model", subject_id=clean.id, reason="推荐", actor=ADMIN)
    # as an older version left it: the red entry moved onto the dishonest person behind the service's back
    session.execute(update(ListEntry).where(ListEntry.id == red.id).values(subject_id=subject.id))
    session.expire_all()
    assert service.maintain(session, today=date(2026, 11, 12))["red_ended"] == 1
    session.refresh(red)
    session.refresh(kept)
    assert (red.status, red.removal_kind) == ("removed", "rule") and kept.status == "listed"
    assert service.maintain(session, today=date(2026, 11, 12))["red_ended"] == 0
