"""The check API: measures per list, grade and scenario; receipts; refusals; feedback; privacy."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text, update
from tests.measures.measures_support import subject_with_status
from tests.support import SYSTEM, deactivated_once_authenticated, login, new_id_number

from xinyong import clock
from xinyong.audit.models import AuditEntry
from xinyong.auth import service as auth_service
from xinyong.measures import service
from xinyong.measures.models import Check, CheckFeedback, Measure


def _check(client, world, number: str, scenario: str, key: str | None = None):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/checks", json={"id_number": number, "scenario": scenario},
                       headers=world.bearer(key or world.key_a))


def _codes(answer: dict) -> set[str]:  # type: ignore[type-arg]
    return {m["code"] for m in answer["measures"]}


# Each list and grade produces its measures, per scenario (the shipped defaults).
EXPECTED = [
    (["serious_dishonesty"], "D", False, "civil_service_hiring", {"restrict_civil_service_hiring"}),
    (["serious_dishonesty"], "D", False, "subsidies", {"restrict_subsidies", "stricter_supervision"}),
    (["serious_dishonesty"], "D", False, "awards", {"restrict_awards"}),
    (["serious_dishonesty"], "D", False, "public_procurement", {"restrict_procurement", "stricter_supervision"}),
    (["serious_dishonesty"], "D", False, "admin_licensing", {"no_promise_based_approval", "stricter_supervision"}),
    (["serious_dishonesty"], "D", False, "financing", {"restrict_financing"}),
    (["dishonest_debtor"], "D", False, "public_services", {"stricter_supervision", "restrict_high_consumption"}),
    (["dishonest_debtor"], "D", False, "civil_service_hiring", {"restrict_civil_service_hiring"}),
    (["key_supervision"], "C", False, "subsidies", {"restrict_subsidies", "stricter_supervision"}),
    # issue 4 names key supervision a dishonesty list; issue 5 gives those lists these restrictions
    (["key_supervision"], "C", False, "civil_service_hiring", {"restrict_civil_service_hiring"}),
    (["key_supervision"], "C", False, "awards", {"restrict_awards"}),
    (["key_supervision"], "C", False, "public_procurement", {"restrict_procurement", "stricter_supervision"}),
    (["red_volunteer"], "AAA", True, "admin_licensing",
     {"priority_handling", "simplified_procedure", "green_channel", "accept_with_missing_documents"}),
    (["red_moral_model"], "AA", True, "awards", {"priority_in_awards"}),
    (["red_recommended"], "A", True, "public_services", {"priority_handling", "green_channel"}),
    (["red_volunteer"], "AAA", True, "financing", {"deposit_free_services", "employment_support"}),
    # 3 years without bad records: the same four licensing conveniences as the red lists (issue 5; the plan's
    # 对…连续三年以上无不良信用记录的行政相对人，制定优先办理、简化程序、重点支持、绿色通道容缺受理等便利服务措施)
    ([], "A", True, "admin_licensing",
     {"priority_handling", "simplified_procedure", "green_channel", "accept_with_missing_documents"}),
    ([], "B", True, "public_services", {"priority_handling", "green_channel"}),
    ([], "A", False, "admin_licensing", set()),
    ([], "AA", False, "public_services", {"priority_handling"}),
    ([], "D", False, "financing", {"restrict_financing"}),
    ([], "D", False, "public_services", {"stricter_supervision"}),
    ([], "B", False, "subsidies", set()),
]


@pytest.mark.parametrize(("lists", "grade", "clean", "scenario", "expected"), EXPECTED)
def test_each_list_and_grade_produces_its_measures(client, world, db, vault, lists, grade, clean, scenario,
                                                   expected):  # type: ignore[no-untyped-def]
    with db.session() as s:
        number, subject = subject_with_status(s, vault, grade=grade, lists=lists, clean_3y=clean)
    r = _check(client, world, number, scenario)
    assert r.status_code == 200, r.text
    a = r.json()
    assert _codes(a) == expected
    assert a["grade"] == grade and a["known"] is True and a["scenario"] == scenario
    assert [x["code"] for x in a["lists"]] == lists
    assert all(x["since"] == "2026-05-01" and x["name"] for x in a["lists"])
    for m in a["measures"]:
        assert m["basis"] and m["department"] and m["kind"] in ("incentive", "punishment") and m["name"]
    if lists and lists[0].startswith("serious"):
        assert {m["kind"] for m in a["measures"]} == {"punishment"}
    assert a["id_number_masked"] == number[:6] + "********" + number[-4:]
    with db.session() as s:
        row = s.scalar(select(Check).where(Check.check_id == a["check_id"]))
        assert row is not None and row.subject_id == subject.id and row.subject_bidx == subject.id_bidx
        assert row.scenario == scenario and row.outcome == "answered" and set(row.measures or []) == expected
        assert row.department_id == world.dept_a.id and row.actor_type == "apikey"


@pytest.mark.parametrize(("lists", "grade", "scenario", "expected"), [
    # a good grade's incentive (priority_handling: grade:AA) is not for someone on a dishonesty list
    (["key_supervision"], "AA", "admin_licensing", {"no_promise_based_approval", "stricter_supervision"}),
    (["key_supervision"], "AAA", "financing", set()),
    # a red list by decision (36 months) beside a later dishonesty listing: the punishments only
    (["red_recommended", "serious_dishonesty"], "D", "awards", {"restrict_awards"}),
    (["red_recommended", "dishonest_debtor"], "D", "admin_licensing",
     {"no_promise_based_approval", "stricter_supervision"}),
])
def test_no_incentive_is_answered_to_someone_on_a_dishonesty_list(client, world, db, vault, lists, grade, scenario,
                                                                    expected):  # type: ignore[no-untyped-def]
    """Incentives are for the red lists, 3 years without bad records and good grades; punishments for
    the dishonesty lists. Someone on a dishonesty list gets its punishments and none of the incentives
    (as the red lists' rules and clean_3y already exclude them), in a single check and a batch alike."""
    with db.session() as s:
        number, _ = subject_with_status(s, vault, grade=grade, lists=lists)
    a = _check(client, world, number, scenario).json()
    assert _codes(a) == expected and {m["kind"] for m in a["measures"]} <= {"punishment"}
    r = client.post("/api/v1/checks/batch", data={"scenario": scenario}, headers=world.bearer(world.key_a),
                    files={"file": ("名单.csv", f"身份证号码\n{number}\n".encode(), "text/csv")})
    assert r.status_code == 202, r.text
    client.app.state.compare_runner.wait()
    with db.session() as s:
        row = s.scalar(select(Check).where(Check.job_id == r.json()["id"]))
        assert row is not None and set(row.measures or []) == expected


def test_unknown_person_gets_a_clean_answer_that_says_so(client, world, db):  # type: ignore[no-untyped-def]
    r = _check(client, world, new_id_number(), "civil_service_hiring")
    assert r.status_code == 200, r.text
    a = r.json()
    assert a["known"] is False and a["lists"] == [] and a["measures"] == [] and a["clean_3y"] is False
    assert "unknown to the platform" in a["note"] and "平台没有此人" in a["note"]
    with db.session() as s:
        from xinyong.scoring.service import default_status

        assert a["grade"] == default_status(s).grade
        row = s.scalar(select(Check).where(Check.check_id == a["check_id"]))
        assert row is not None and row.subject_id is None and row.subject_bidx and row.outcome == "answered"


def test_receipt_verifies_and_fails_when_the_stored_answer_is_altered(client, world, db, vault):  # type: ignore[no-untyped-def]
    with db.session() as s:
        number, _ = subject_with_status(s, vault, grade="D", lists=["serious_dishonesty"])
    a = _check(client, world, number, "civil_service_hiring").json()
    key = client.get("/api/v1/checks/receipt-key", headers=world.bearer(world.key_a)).json()
    assert key["public_key"] == a["receipt"]["public_key"]
    got = client.get(f"/api/v1/checks/{a['check_id']}", headers=world.bearer(world.key_a))
    assert got.status_code == 200, got.text
    stored = got.json()
    assert stored["verified"] is True
    assert {k: v for k, v in stored.items() if k != "verified"} == a
    assert service.verify_receipt(vault.ring, service.canonical(a), a["receipt"])
    # the documented serialisation: what a business system recomputes with the standard json module
    import json

    plain = json.dumps({k: v for k, v in a.items() if k != "receipt"}, sort_keys=True, separators=(",", ":"),
                       ensure_ascii=False).encode("utf-8")
    assert plain == service.canonical(a)
    # an altered stored answer (a measure removed) no longer verifies
    with db.session() as s:
        row = s.scalar(select(Check).where(Check.check_id == a["check_id"]))
        assert row is not None and row.answer is not None
        doctored = orjson.loads(row.answer)
        doctored["measures"] = []
        s.execute(update(Check).where(Check.id == row.id).values(
            answer=orjson.dumps(doctored, option=orjson.OPT_SORT_KEYS).decode()))
    again = client.get(f"/api/v1/checks/{a['check_id']}", headers=world.bearer(world.key_a)).json()
    assert again["verified"] is False and again["measures"] == []
    # and the client-side check fails on an altered answer too
    assert not service.verify_receipt(vault.ring, service.canonical({**a, "grade": "AAA"}), a["receipt"])


def test_another_department_cannot_read_a_check_but_the_auditor_can(client, world):  # type: ignore[no-untyped-def]
    a = _check(client, world, new_id_number(), "awards").json()
    r = client.get(f"/api/v1/checks/{a['check_id']}", headers=world.bearer(world.key_b))
    assert r.status_code == 403 and r.json()["code"] == "other_department"
    login(client, "auditor")
    r = client.get(f"/api/v1/checks/{a['check_id']}")
    assert r.status_code == 200 and r.json()["verified"] is True
    assert client.get("/api/v1/checks/" + "0" * 32).status_code == 404


@pytest.mark.parametrize(("number", "code"), [
    ("12010119800101123", "id_length"),
    ("1201011980010112AB", "id_characters"),
    ("120101198013011234", "id_birth_date"),
    ("", "id_missing"),
])
def test_invalid_id_number_is_refused_with_the_reason_and_registered(client, world, db, number, code):  # type: ignore[no-untyped-def]
    r = _check(client, world, number, "awards")
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == code and body["errors"][0]["field"] == "id_number"
    assert " / " in body["message"]
    with db.session() as s:
        row = s.scalar(select(Check).where(Check.check_id == body["check_id"]))
        assert row is not None and row.outcome == "refused" and row.refusal == code and row.subject_bidx is None


def test_bad_checksum_is_refused(client, world):  # type: ignore[no-untyped-def]
    good = new_id_number()
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    r = _check(client, world, bad, "awards")
    assert r.status_code == 422 and r.json()["code"] == "id_checksum"


def test_unknown_scenario_lists_the_valid_ones_and_is_registered(client, world, db):  # type: ignore[no-untyped-def]
    r = _check(client, world, new_id_number(), "fishing_licence")
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "unknown_scenario"
    valid = body["errors"][0]["valid"]
    assert {"admin_licensing", "civil_service_hiring", "awards", "subsidies", "public_procurement", "financing",
            "public_services"} <= set(valid)
    assert "admin_licensing" in body["message"]
    with db.session() as s:
        row = s.scalar(select(Check).where(Check.check_id == body["check_id"]))
        assert row is not None and row.refusal == "unknown_scenario" and row.subject_bidx
    back = client.get(f"/api/v1/checks/{body['check_id']}", headers=world.bearer(world.key_a)).json()
    assert (back["outcome"], back["refused"], back["verified"]) == ("refused", "unknown_scenario", True)
    assert back["scenario"] == "fishing_licence" and back["department"] == world.dept_a.code


def test_revoked_key_is_401_and_audited(client, world, db):  # type: ignore[no-untyped-def]
    with db.session() as s:
        auth_service.revoke_api_key(s, key=s.merge(world.key_b_row), actor=SYSTEM)
    r = _check(client, world, new_id_number(), "awards", key=world.key_b)
    assert r.status_code == 401 and r.json()["code"] == "key_revoked"
    with db.session() as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "auth.apikey").order_by(AuditEntry.id.desc()))
        assert entry is not None and entry.outcome == "denied" and entry.details["path"] == "/api/v1/checks"


def test_roles_without_a_department_or_permission_are_refused(client, world):  # type: ignore[no-untyped-def]
    csrf = login(client, "zhangsan")
    assert client.post("/api/v1/checks", json={"id_number": new_id_number(), "scenario": "awards"},
                       headers={"X-CSRF-Token": csrf}).status_code == 403


def test_the_admin_without_a_department_is_refused_and_the_refusal_audited(client, world, db):  # type: ignore[no-untyped-def]
    """The admin may read everything but checks only as a department: the 403 leaves an audit entry
    (before, it left no trace at all: no register row, no audit entry)."""
    csrf = login(client, "admin")
    r = client.post("/api/v1/checks", json={"id_number": new_id_number(), "scenario": "awards"},
                    headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403 and r.json()["code"] == "department_required"
    r = client.post("/api/v1/checks/batch", data={"scenario": "awards"}, headers={"X-CSRF-Token": csrf},
                    files={"file": ("名单.csv", f"{new_id_number()}\n".encode(), "text/csv")})
    assert r.status_code == 403 and r.json()["code"] == "department_required"
    with db.session() as s:
        entries = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "auth.forbidden",
                                                          AuditEntry.actor_label == "admin").order_by(AuditEntry.id)))
        assert [(e.outcome, e.details) for e in entries] == [
            ("denied", {"permission": "checks.run", "reason": "department_required"}),
            ("denied", {"permission": "checks.batch", "reason": "department_required"})]
        assert s.scalar(select(Check.id).limit(1)) is None  # nothing answered, so nothing registered


def test_officer_checks_for_their_department(client, world):  # type: ignore[no-untyped-def]
    csrf = login(client, "officer_a")
    r = client.post("/api/v1/checks", json={"id_number": new_id_number(), "scenario": "awards"},
                    headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json()["department"] == world.dept_a.code


def test_feedback_and_its_refusals(client, world, db, vault):  # type: ignore[no-untyped-def]
    with db.session() as s:
        number, _ = subject_with_status(s, vault, grade="D", lists=["dishonest_debtor"])
    a = _check(client, world, number, "public_services").json()
    url = f"/api/v1/checks/{a['check_id']}/feedback"
    ok = client.post(url, json={"measure": "restrict_high_consumption", "applied": True, "note": "已限制"},
                     headers=world.bearer(world.key_a))
    assert ok.status_code == 201, ok.text
    assert ok.json()["applied"] is True
    other = client.post(url, json={"measure": "restrict_high_consumption", "applied": True},
                        headers=world.bearer(world.key_b))
    assert other.status_code == 403 and other.json()["code"] == "other_department"
    for measure in ("green_channel", "no_such_measure"):  # not in this answer / unknown
        r = client.post(url, json={"measure": measure, "applied": False}, headers=world.bearer(world.key_a))
        assert r.status_code == 422 and r.json()["code"] == "unknown_measure"
        assert r.json()["errors"][0]["field"] == "measure"
    for empty in ("", "  "):  # the code stays unknown_measure (as an empty scenario's is unknown_scenario);
        # the message says it was empty, with the measures answered, and the refusal is registered
        r = client.post(url, json={"measure": empty, "applied": True}, headers=world.bearer(world.key_a))
        assert r.status_code == 422 and r.json()["code"] == "unknown_measure", r.text
        assert r.json()["errors"][0]["field"] == "measure"
        assert "未填写措施代码" in r.json()["message"] and "no measure code given" in r.json()["message"]
        assert "restrict_high_consumption" in r.json()["message"]
    empty_scenario = client.post("/api/v1/checks", json={"id_number": number, "scenario": ""},
                                 headers=world.bearer(world.key_a))
    assert empty_scenario.status_code == 422 and empty_scenario.json()["code"] == "unknown_scenario"
    assert "未填写场景" in empty_scenario.json()["message"] and "no scenario given" in empty_scenario.json()["message"]
    for vague in ("yes", "false", 1):  # a boolean, not text or a number read as one
        r = client.post(url, json={"measure": "restrict_high_consumption", "applied": vague},
                        headers=world.bearer(world.key_a))
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "applied", r.text
    missing = client.post(f"/api/v1/checks/{'a' * 32}/feedback", json={"measure": "x", "applied": True},
                          headers=world.bearer(world.key_a))
    assert missing.status_code == 404
    with db.session() as s:
        assert s.scalar(select(CheckFeedback.measure).where(CheckFeedback.check_id == a["check_id"])) == \
            "restrict_high_consumption"
        denied = list(s.scalars(select(AuditEntry.outcome).where(AuditEntry.action == "checks.feedback")))
        assert denied.count("denied") >= 3 and denied.count("ok") == 1


def test_feedback_needs_an_active_department_as_the_check_does(client, world, db, vault, monkeypatch):  # type: ignore[no-untyped-def]
    """Feedback is the department's report of what it applied: an officer of a department deactivated
    since the check can no longer report (403 department_inactive, audited), as it can no longer
    check; the admin, who checks as no department, is told so (department_required), not that the
    check is another department's."""

    with db.session() as s:
        number, _ = subject_with_status(s, vault, grade="D", lists=["dishonest_debtor"])
    csrf = login(client, "officer_a")
    a = client.post("/api/v1/checks", json={"id_number": number, "scenario": "public_services"},
                    headers={"X-CSRF-Token": csrf}).json()
    url = f"/api/v1/checks/{a['check_id']}/feedback"
    body = {"measure": "restrict_high_consumption", "applied": True}
    with monkeypatch.context() as m:  # deactivated once the session was accepted (later ones are refused)
        deactivated_once_authenticated(m, world.dept_a.id)
        r = client.post(url, json=body, headers={"X-CSRF-Token": csrf})
    assert (r.status_code, r.json()["code"]) == (403, "department_inactive"), r.text
    csrf = login(client, "admin")
    r = client.post(url, json=body, headers={"X-CSRF-Token": csrf})
    assert (r.status_code, r.json()["code"]) == (403, "department_required"), r.text
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(CheckFeedback)) == 0
        refusals = [(e.actor_label, e.details.get("reason")) for e in s.scalars(
            select(AuditEntry).where(AuditEntry.action == "auth.forbidden").order_by(AuditEntry.id))]
        assert refusals[-2:] == [("officer_a", "department_inactive"), ("admin", "department_required")]


def test_feedback_statistics_per_department_and_measure(client, world, db, vault):  # type: ignore[no-untyped-def]
    with db.session() as s:
        number, _ = subject_with_status(s, vault, grade="D", lists=["dishonest_debtor"])
    ids = [_check(client, world, number, "public_services").json()["check_id"] for _ in range(4)]
    _check(client, world, number, "public_services", key=world.key_b)
    for cid, applied in zip(ids[:3], (True, True, False), strict=True):
        r = client.post(f"/api/v1/checks/{cid}/feedback", json={"measure": "restrict_high_consumption",
                                                                "applied": applied},
                        headers=world.bearer(world.key_a))
        assert r.status_code == 201
    assert client.get("/api/v1/checks/feedback-stats", headers=world.bearer(world.key_a)).status_code == 403
    login(client, "admin")
    stats = client.get("/api/v1/checks/feedback-stats").json()
    row = next(x for x in stats if x["department"] == world.dept_a.code and x["measure"] == "restrict_high_consumption")
    assert (row["answered"], row["feedback"], row["applied"]) == (4, 3, 2)
    assert row["feedback_rate"] == 0.75 and row["applied_rate"] == 0.5
    row_b = next(x for x in stats if x["department"] == world.dept_b.code and x["measure"] == "restrict_high_consumption")
    assert (row_b["answered"], row_b["feedback"], row_b["feedback_rate"]) == (1, 0, 0.0)


def test_feedback_statistics_since_a_day_count_from_the_district_s_midnight(client, world, db, vault):  # type: ignore[no-untyped-def]
    """``since`` is a day of the platform's zone (Asia/Shanghai, UTC+8): a check at 01:00 there on the
    27th (17:00 UTC on the 26th) counts from the 27th, one at 23:59 there on the 26th does not."""
    assert clock.zone().key == "Asia/Shanghai"
    with db.session() as s:
        number, _ = subject_with_status(s, vault, grade="D", lists=["dishonest_debtor"])
    late, early = (_check(client, world, number, "public_services").json()["check_id"] for _ in range(2))
    with db.session() as s:
        for cid, at in ((late, datetime(2026, 11, 26, 17, 0, tzinfo=UTC)),
                        (early, datetime(2026, 11, 26, 15, 59, tzinfo=UTC))):
            s.execute(update(Check).where(Check.check_id == cid).values(checked_at=at))

    def answered(day: date) -> int:
        with db.session() as s:
            return sum(x.answered for x in service.feedback_stats(s, since=day)
                       if x.department_code == world.dept_a.code and x.measure == "restrict_high_consumption")

    assert answered(date(2026, 11, 27)) == 1
    assert answered(date(2026, 11, 26)) == 2


def test_calls_over_the_rate_limit_are_registered_as_counts_in_the_audit_log(client, world, db):  # type: ignore[no-untyped-def]
    """A 429 writes nothing per call (a flood of refusals must not become a flood of writes); the
    limiter counts them per caller and the audit sealer writes one ``ratelimit.refused`` entry per
    limit and caller with the number of calls — every call leaves a trace."""
    from xinyong.ratelimit import Limit, RateLimiter

    limiter = RateLimiter({"checks": Limit(rate=1 / 3600, burst=3)})
    client.app.state.rate_limiter = client.app.state.audit_sealer.limiter = limiter
    codes = [_check(client, world, world.other_id_number, "awards").status_code for _ in range(7)]
    assert codes == [200] * 3 + [429] * 4
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Check)) == 3
        assert s.scalar(select(AuditEntry.id).where(AuditEntry.action == "ratelimit.refused")) is None
    assert client.app.state.audit_sealer.record_refusals() == 4
    assert client.app.state.audit_sealer.record_refusals() == 0  # counted once
    with db.session() as s:
        [entry] = s.scalars(select(AuditEntry).where(AuditEntry.action == "ratelimit.refused")).all()
        assert (entry.outcome, entry.actor_type, entry.department_id) == ("denied", "apikey", world.dept_a.id)
        assert entry.details["calls"] == 4 and entry.details["path"] == "/api/v1/checks"
        assert entry.details["first"] <= entry.details["last"]
        assert world.other_id_number not in str(entry.details)


def test_checks_the_schema_refuses_are_counted_in_the_audit_log(client, world, db):  # type: ignore[no-untyped-def]
    """A body the schema refuses has no scenario to register a check under; it is a call all the
    same: counted per caller (the key: a body that is not JSON is refused for a missing key first,
    401, as a good body is, and so is its key's) and written as one ``checks.malformed`` entry each."""
    h = world.bearer(world.key_a)
    for body in ({"id_number": world.other_id_number}, {"id_number": world.other_id_number, "scenario": "awards",
                                                        "extra": 1}):
        assert client.post("/api/v1/checks", json=body, headers=h).status_code == 422
    broken = client.post("/api/v1/checks", content=b'{"id_number": ', headers={**h, "Content-Type": "application/json"})
    assert broken.status_code == 422
    keyless = client.post("/api/v1/checks", content=b'{"id_number": ', headers={"Content-Type": "application/json"})
    assert keyless.status_code == 401 and keyless.json()["code"] == "unauthenticated"
    assert client.app.state.audit_sealer.record_refusals() == 3
    with db.session() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action == "checks.malformed")
                            .order_by(AuditEntry.actor_type)).all()
        assert [(e.actor_type, e.details["calls"], e.outcome) for e in entries] == [("apikey", 3, "denied")]
        assert all(e.details["path"] == "/api/v1/checks" for e in entries)
        assert s.scalar(select(func.count()).select_from(Check)) == 0
        assert world.other_id_number not in str([e.details for e in entries])


def test_feedback_and_uploads_the_schema_refuses_are_counted_in_the_audit_log(client, world, db):  # type: ignore[no-untyped-def]
    """Every call of the check API leaves a trace, feedback and batch uploads too: a feedback body or
    an upload form the schema refuses (before any audited refusal of the service) is counted per
    caller and recorded as one entry, as a malformed check is."""
    h = world.bearer(world.key_a)
    a = _check(client, world, world.other_id_number, "awards").json()
    url = f"/api/v1/checks/{a['check_id']}/feedback"
    for body in ({"measure": "restrict_awards", "applied": "yes"}, {"applied": True}):
        assert client.post(url, json=body, headers=h).status_code == 422
    assert client.post("/api/v1/checks/xyz/feedback", json={"measure": "m", "applied": True},
                       headers=h).status_code == 422
    upload = client.post("/api/v1/checks/batch", headers=h,
                         files={"file": ("名单.csv", f"{world.other_id_number}\n".encode(), "text/csv")})
    assert upload.status_code == 422 and upload.json()["errors"][0]["field"] == "scenario"
    assert client.app.state.audit_sealer.record_refusals() == 4
    with db.session() as s:
        entries = {e.action: e for e in s.scalars(select(AuditEntry).where(AuditEntry.outcome == "denied",
                                                                            AuditEntry.action.like("checks.%")))}
        fb, up = entries["checks.feedback_malformed"], entries["checks.batch_malformed"]
        assert (fb.actor_type, fb.department_id, fb.details["calls"]) == ("apikey", world.dept_a.id, 3)
        assert fb.details["path"] == "/api/v1/checks/{check_id}/feedback"
        assert (up.actor_type, up.details["calls"], up.details["path"]) == ("apikey", 1, "/api/v1/checks/batch")
        assert world.other_id_number not in str([e.details for e in entries.values()])


def test_reading_back_an_unknown_or_another_departments_check_is_registered(client, world, db):  # type: ignore[no-untyped-def]
    """A 404 (no such check: a mistyped or guessed id) is registered as the 403 is: it was not, the
    request's rollback taking its entry away."""
    mine = _check(client, world, new_id_number(), "awards").json()["check_id"]
    unknown = "0" * 32
    assert client.get(f"/api/v1/checks/{unknown}", headers=world.bearer(world.key_a)).status_code == 404
    assert client.get(f"/api/v1/checks/{mine}", headers=world.bearer(world.key_b)).status_code == 403
    with db.session() as s:
        got = [(e.object_id, e.outcome, e.details, e.department_id) for e in s.scalars(
            select(AuditEntry).where(AuditEntry.action == "checks.read").order_by(AuditEntry.id))]
    assert got == [(unknown, "denied", {"code": "not_found"}, world.dept_a.id),
                   (mine, "denied", {"code": "other_department"}, world.dept_b.id)]


def test_a_check_read_back_by_an_id_the_schema_refuses_is_counted_in_the_audit_log(client, world, db):  # type: ignore[no-untyped-def]
    """Reading a check back is audited (``checks.read``), its refusals too (404, 403); an id that is
    not 32 hex digits — an ID number pasted where the check id goes, say — is refused by the schema
    before that, and is counted per caller like a malformed check, the number never recorded."""
    h = world.bearer(world.key_a)
    for bad in ("xyz", world.other_id_number, "A" * 32):
        r = client.get(f"/api/v1/checks/{bad}", headers=h)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "check_id"
    assert client.app.state.audit_sealer.record_refusals() == 3
    with db.session() as s:
        [entry] = s.scalars(select(AuditEntry).where(AuditEntry.action == "checks.read_malformed")).all()
        assert (entry.outcome, entry.actor_type, entry.details["calls"]) == ("denied", "apikey", 3)
        assert entry.details["path"] == "/api/v1/checks/{check_id}"
        assert world.other_id_number not in str(entry.details)


def test_no_raw_id_number_reaches_the_register_the_audit_log_or_the_logs(client, world, db, vault, caplog):  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    with db.session() as s:
        number, _ = subject_with_status(s, vault, grade="D", lists=["serious_dishonesty"])
    unknown = new_id_number()
    bad = unknown[:-1] + ("0" if unknown[-1] != "0" else "1")
    for n, scen in ((number, "awards"), (unknown, "subsidies"), (bad, "awards"), (number, "nope")):
        _check(client, world, n, scen)
    with db.session() as s:
        dumped = "\n".join(str(tuple(r)) for r in s.execute(text("SELECT * FROM checks")))
        dumped += "\n".join(str(tuple(r)) for r in s.execute(text("SELECT * FROM audit_entries")))
    for n in (number, unknown, bad):
        assert n not in dumped and n[6:14] + n[14:] not in dumped
        assert n not in caplog.text


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(id_number=st.text(max_size=30), scenario=st.text(max_size=40))
def test_any_input_is_answered_or_refused_never_crashes(client, world, id_number, scenario):  # type: ignore[no-untyped-def]
    r = _check(client, world, id_number, scenario)
    assert r.status_code in (200, 422), r.text
    if r.status_code == 422:
        assert r.json()["code"]


def test_cached_default_is_dropped_when_another_ruleset_shows(client, world, db, vault):  # type: ignore[no-untyped-def]
    with db.session() as s:
        number, _ = subject_with_status(s, vault, grade="B")  # ruleset_version 1
    import time as _time

    service._default = (_time.monotonic(), clock.today(), service.DefaultStatus(1, "C", 99))
    assert _check(client, world, number, "awards").status_code == 200
    assert service._default is None
    unknown = _check(client, world, new_id_number(), "awards").json()
    with db.session() as s:
        from xinyong.scoring.service import default_status

        assert unknown["grade"] == default_status(s).grade and unknown["ruleset_version"] != 99


def test_control_characters_never_reach_the_database(client, world, db):  # type: ignore[no-untyped-def]
    r = _check(client, world, new_id_number(), "awa\x00rds")
    assert r.status_code == 422 and r.json()["code"] == "unknown_scenario"
    with db.session() as s:
        row = s.scalar(select(Check).where(Check.check_id == r.json()["check_id"]))
        assert row is not None and "\x00" not in row.scenario
    a = _check(client, world, new_id_number(), "awards").json()
    r = client.post(f"/api/v1/checks/{a['check_id']}/feedback", json={"measure": "x\x00", "applied": True},
                    headers=world.bearer(world.key_a))
    assert r.status_code == 422
    login(client, "admin")
    csrf = client.get("/api/v1/session").json()["csrf_token"]
    r = client.put("/api/v1/scenarios/bad_one", json={"name_zh": "坏\x00", "name_en": "bad"},
                   headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "control_characters"


def test_an_id_number_sent_as_the_scenario_or_in_a_note_is_never_stored_or_echoed(client, world, db, vault):  # type: ignore[no-untyped-def]
    """Fields swapped by the caller (the number as the scenario) and a feedback note quoting the
    number: the refusal's message, the register and the stored note hold it masked only."""
    with db.session() as s:
        number, _ = subject_with_status(s, vault, grade="D", lists=["dishonest_debtor"])
    masked = number[:6] + "********" + number[-4:]
    for scenario in (number, f"x{number}"):
        r = client.post("/api/v1/checks", json={"id_number": "admin_licensing", "scenario": scenario},
                        headers=world.bearer(world.key_a))
        assert r.status_code == 422 and number not in r.text
    r = _check(client, world, world.other_id_number, number)
    assert r.status_code == 422 and r.json()["code"] == "unknown_scenario" and number not in r.text
    assert masked in r.json()["message"]
    answered = _check(client, world, number, "public_services").json()
    fb = client.post(f"/api/v1/checks/{answered['check_id']}/feedback",
                     json={"measure": "restrict_high_consumption", "applied": True, "note": f"已核实 {number}"},
                     headers=world.bearer(world.key_a))
    assert fb.status_code == 201 and number not in fb.text and masked in fb.json()["note"]
    with db.session() as s:
        stored = [*s.scalars(select(Check.scenario)), *s.scalars(select(CheckFeedback.note))]
    assert stored and not any(number in (v or "") for v in stored)


@pytest.mark.parametrize("alteration", [
    {"grade": "A"}, {"measures": ["restrict_awards"]}, {"scenario": "awards"},
    {"answer": None, "receipt": None, "outcome": "refused", "refusal": "id_checksum"},
    {"channel": "batch", "answer": None, "receipt": None}, "other_department",
])
def test_a_register_row_altered_beside_its_signed_answer_fails_verification(client, world, db, vault, alteration):  # type: ignore[no-untyped-def]
    """The signature covers the stored answer; the register's own columns (grade, measure codes,
    scenario, outcome, department), which feedback and statistics read, must agree with it. Altered
    ones read back ``verified: false`` and take no feedback (before: ``true``, or ``null`` for an
    answer turned into an unsigned "refusal", and feedback on the altered measures was accepted)."""
    with db.session() as s:
        number, _ = subject_with_status(s, vault, grade="D", lists=["dishonest_debtor"])
    a = _check(client, world, number, "public_services").json()
    fresh = client.get(f"/api/v1/checks/{a['check_id']}", headers=world.bearer(world.key_a)).json()
    assert fresh["verified"] is True, (fresh, a)
    values = {"department_id": world.dept_b.id} if alteration == "other_department" else alteration
    with db.session() as s:
        s.execute(update(Check).where(Check.check_id == a["check_id"]).values(**values))
    login(client, "auditor")  # reads any department's checks
    back = client.get(f"/api/v1/checks/{a['check_id']}").json()
    assert back["verified"] is False, back
    client.cookies.clear()
    key = world.key_b if alteration == "other_department" else world.key_a
    measure = "restrict_awards" if alteration == {"measures": ["restrict_awards"]} else "restrict_high_consumption"
    fb = client.post(f"/api/v1/checks/{a['check_id']}/feedback", json={"measure": measure, "applied": True},
                     headers=world.bearer(key))
    assert fb.status_code == 409 and fb.json()["code"] == "check_unverified", fb.text


def test_a_refusal_is_signed_and_turning_it_into_an_answer_fails(client, world, db):  # type: ignore[no-untyped-def]
    r = _check(client, world, "12010119800101123", "awards")
    assert r.status_code == 422
    cid = r.json()["check_id"]
    back = client.get(f"/api/v1/checks/{cid}", headers=world.bearer(world.key_a)).json()
    assert (back["verified"], back["outcome"], back["refusal"]) == (True, "refused", "id_length"), back
    with db.session() as s:
        s.execute(update(Check).where(Check.check_id == cid).values(outcome="answered", grade="A", measures=[]))
    assert client.get(f"/api/v1/checks/{cid}", headers=world.bearer(world.key_a)).json()["verified"] is False


def test_a_refusal_registered_before_refusals_were_signed_reads_as_such(client, world, db):  # type: ignore[no-untyped-def]
    """Refusals registered before the upgrade (migration 0011) were never signed: they read back
    ``verified: null`` with a note saying so, not as altered; an unsigned refusal whose id was made
    after the upgrade reads ``false``."""
    from xinyong.measures.models import RegisterEpoch

    r = _check(client, world, "12010119800101123", "awards")
    cid = r.json()["check_id"]
    with db.session() as s:
        since = s.get(RegisterEpoch, "refusals_signed").since_ms
        assert 0 < since <= int(cid[:12], 16)
        s.execute(update(Check).where(Check.check_id == cid).values(answer=None, receipt=None))
    after = client.get(f"/api/v1/checks/{cid}", headers=world.bearer(world.key_a)).json()
    assert after["verified"] is False
    with db.session() as s:
        s.execute(update(RegisterEpoch).where(RegisterEpoch.name == "refusals_signed").values(
            since_ms=int(cid[:12], 16) + 1))
    before = client.get(f"/api/v1/checks/{cid}", headers=world.bearer(world.key_a)).json()
    assert before["verified"] is None and before["outcome"] == "refused" and before["refused"] == "id_length"
    assert "before refusals were signed" in before["note"]


def test_empty_query_parameters_are_no_filter_here_too(client, world):  # type: ignore[no-untyped-def]
    """As on the records API (issue 5): a template's empty parameter lists like no parameter."""
    h = world.bearer(world.key_a)
    everything = client.get("/api/v1/measures", headers=h)
    blank = client.get("/api/v1/measures?scenario=&kind=", headers=h)
    assert blank.status_code == 200 and blank.json() == everything.json() and everything.json()
    assert client.get("/api/v1/measures?kind=reward", headers=h).status_code == 422  # a value is still checked
    login(client, "admin")
    stats = client.get("/api/v1/checks/feedback-stats?since=")
    assert stats.status_code == 200 and stats.json() == client.get("/api/v1/checks/feedback-stats").json()


def test_a_measure_or_scenario_body_the_schema_refuses_is_registered(client, world, db):  # type: ignore[no-untyped-def]
    """A save refused by the schema (FastAPI's 422, before the route runs) leaves one ``failed``
    entry under the save's action, the code of the path as its object, the error's code and field."""
    login(client, "admin")
    csrf = client.get("/api/v1/session").json()["csrf_token"]
    h = {"X-CSRF-Token": csrf}
    assert client.put("/api/v1/scenarios/new_one", json={"name_zh": "新"}, headers=h).status_code == 422
    assert client.put("/api/v1/measures/new_measure", content=b"{",
                      headers={**h, "content-type": "application/json"}).status_code == 422
    assert client.put("/api/v1/measures/new_measure", json={"name_zh": "x", "name_en": "x", "kind": "reward",
                                                            "applies_to": [], "scenarios": [], "department": "x",
                                                            "basis": "x", "colour": "red"},
                      headers=h).status_code == 422
    with db.session() as s:
        got = [(e.action, e.outcome, e.object_type, e.object_id, e.details) for e in s.scalars(
            select(AuditEntry).where(AuditEntry.action.in_(["measures.measure_save", "measures.scenario_save"]))
            .order_by(AuditEntry.id))]
    assert got == [
        ("measures.scenario_save", "failed", "scenario", "new_one", {"code": "missing", "field": "name_en", "errors": 1}),
        ("measures.measure_save", "failed", "measure", "new_measure", {"code": "json_invalid", "field": "body",
                                                                       "errors": 1}),
        ("measures.measure_save", "failed", "measure", "new_measure", {"code": "extra_forbidden", "field": "colour",
                                                                       "errors": 1}),
    ]


@pytest.mark.parametrize("active", ["yes", "no", "false", "off", 0, 1, "", None])
def test_active_must_be_true_or_false_not_guessed(client, world, db, active):  # type: ignore[no-untyped-def]
    """``active`` retires a measure or a scenario: a value that is not JSON true or false ("no",
    "false", 0 — which the schema used to take as false and so retired the measure — or "yes", 1) is
    refused naming the field, registered, and nothing changes, as feedback's ``applied`` is."""
    login(client, "admin")
    h = {"X-CSRF-Token": client.get("/api/v1/session").json()["csrf_token"]}
    measure = client.get("/api/v1/measures/green_channel").json()
    scenario = client.get("/api/v1/scenarios/awards").json()
    for path, body in (("/api/v1/measures/green_channel", measure), ("/api/v1/scenarios/awards", scenario)):
        r = client.put(path, json={**body, "active": active}, headers=h)
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "validation_error" and r.json()["errors"][0]["field"] == "active"
        assert client.get(path).json() == body  # still active, same version
    with db.session() as s:
        got = [(e.action, e.outcome, e.details["field"]) for e in s.scalars(
            select(AuditEntry).where(AuditEntry.action.in_(["measures.measure_save", "measures.scenario_save"]),
                                     AuditEntry.outcome == "failed").order_by(AuditEntry.id))]
    assert got == [("measures.measure_save", "failed", "active"), ("measures.scenario_save", "failed", "active")]
    for path, body in (("/api/v1/measures/green_channel", measure), ("/api/v1/scenarios/awards", scenario)):
        r = client.put(path, json={**body, "active": False}, headers=h)  # JSON false still retires
        assert r.status_code == 200 and r.json()["active"] is False


@pytest.mark.parametrize("bad", [("applies_to", ["nobody"]), ("applies_to", []), ("scenarios", ["mars"]),
                                 ("scenarios", []), ("kind", "reward"), ("name_zh", " "), ("department", ""),
                                 ("basis", "a\x07b")])
def test_a_save_the_rules_refuse_names_the_body_key_as_the_schema_does(client, world, db, bad):  # type: ignore[no-untyped-def]
    """The rules' refusal of a PUT names the key of the body that is wrong (``applies_to``), as the
    schema's 422 of the same request names it — not ``measure.applies_to``, a path the body does
    not have — in the answer and in the save's audit entry."""
    key, value = bad
    login(client, "admin")
    h = {"X-CSRF-Token": client.get("/api/v1/session").json()["csrf_token"]}
    good = {"name_zh": "新措施", "name_en": "A measure", "kind": "incentive", "applies_to": ["red_volunteer"],
            "scenarios": ["awards"], "department": "区政务服务办", "basis": "依据"}
    r = client.put("/api/v1/measures/new_measure", json={**good, key: value}, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "invalid_measure", r.text
    assert [e["field"] for e in r.json()["errors"]] == [key]
    if key in ("name_zh",):
        r = client.put("/api/v1/scenarios/new_scene", json={"name_zh": value, "name_en": "x"}, headers=h)
        assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == [key]
    schema = client.put("/api/v1/measures/new_measure", json={**good, key: 5}, headers=h)  # the schema's 422
    assert schema.status_code == 422 and schema.json()["errors"][0]["field"] == key
    with db.session() as s:
        fields = [e.details["field"] for e in s.scalars(select(AuditEntry).where(
            AuditEntry.action.in_(["measures.measure_save", "measures.scenario_save"])).order_by(AuditEntry.id))]
    assert set(fields) == {key}


def test_a_measure_or_scenario_save_the_rules_refuse_is_registered(client, world, db):  # type: ignore[no-untyped-def]
    """A save the service refuses (an unknown target or scenario) or whose body names another code is
    registered under the save's action, ``failed``, with the refusal's code, first field and count —
    never what was typed; nothing is saved."""
    login(client, "admin")
    csrf = client.get("/api/v1/session").json()["csrf_token"]
    h = {"X-CSRF-Token": csrf}
    good = {"name_zh": "新措施", "name_en": "A measure", "kind": "incentive", "applies_to": ["red_volunteer"],
            "scenarios": ["awards"], "department": "区政务服务办", "basis": "依据"}
    r = client.put("/api/v1/measures/new_measure", json={**good, "applies_to": ["nobody"], "scenarios": ["mars"]},
                   headers=h)
    assert r.status_code == 422 and r.json()["code"] == "invalid_measure"
    r = client.put("/api/v1/measures/new_measure", json={**good, "code": "another_one"}, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "code_mismatch"
    r = client.put("/api/v1/scenarios/new_scene", json={"name_zh": "", "name_en": "x"}, headers=h)
    assert r.status_code == 422
    with db.session() as s:
        got = [(e.action, e.outcome, e.object_id, e.details) for e in s.scalars(
            select(AuditEntry).where(AuditEntry.action.in_(["measures.measure_save", "measures.scenario_save"]))
            .order_by(AuditEntry.id))]
        assert s.scalar(select(func.count()).select_from(Measure).where(Measure.code == "new_measure")) == 0
    assert got[:2] == [
        ("measures.measure_save", "failed", "new_measure", {"code": "invalid_measure", "field": got[0][3]["field"],
                                                            "errors": 2}),
        ("measures.measure_save", "failed", "new_measure", {"code": "code_mismatch", "field": "code", "errors": 1}),
    ]
    assert got[0][3]["field"].endswith("applies_to") or got[0][3]["field"].endswith("scenarios")
    assert [(a, o, obj, d["code"]) for a, o, obj, d in got[2:]] == [
        ("measures.scenario_save", "failed", "new_scene", r.json()["code"])]
    assert "another_one" not in str(got) and "nobody" not in str(got)


def test_a_check_body_in_utf16_is_refused_as_not_utf8(client, world, db) -> None:  # type: ignore[no-untyped-def]
    """The hot route (answered by its express handler, whose JSON reader refuses UTF-16, then by the
    declared route) refuses a UTF-16 body as any body that is not UTF-8: 422 ``body_unreadable``."""
    import json

    body = json.dumps({"id_number": new_id_number(), "scenario": "awards"}).encode("utf-16")
    r = client.post("/api/v1/checks", content=body,
                    headers={**world.bearer(world.key_a), "content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [("body", "body_unreadable")]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Check)) == 0


def test_a_measures_texts_and_its_change_reason_keep_no_id_number_in_the_clear(client, world, db, vault):  # type: ignore[no-untyped-def]
    """A measure's texts (its basis goes into every check's answer and receipt) and the reason for a
    change (shown by the history to every department) hold any ID number masked, as the catalog's and
    the rulesets' notes do; so does a scenario's."""
    number = new_id_number()
    masked = number[:6] + "********" + number[14:]
    login(client, "admin")
    h = {"X-CSRF-Token": client.get("/api/v1/session").json()["csrf_token"]}
    measure = {k: v for k, v in client.get("/api/v1/measures/green_channel").json().items() if k != "version"}
    r = client.put("/api/v1/measures/green_channel", json={**measure, "basis": f"国发〔2016〕33号；当事人{number}",
                                                            "reason": f"应{number}的投诉修改"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["basis"] == f"国发〔2016〕33号；当事人{masked}"
    scenario = {k: v for k, v in client.get("/api/v1/scenarios/awards").json().items() if k != "version"}
    r = client.put("/api/v1/scenarios/awards", json={**scenario, "name_en": f"Awards {number}",
                                                      "reason": f"x {number}"}, headers=h)
    assert r.status_code == 200 and r.json()["name_en"] == f"Awards {masked}", r.text
    shown = (client.get("/api/v1/measures/green_channel/history").text
             + client.get("/api/v1/scenarios/awards/history").text)
    assert number not in shown and f"应{masked}的投诉修改" in shown
    with db.session() as s:
        stored = [str(v) for (v,) in s.execute(text("SELECT reason FROM measure_changes"))]
        stored += [str(v) for (v,) in s.execute(text("SELECT basis FROM measures"))]
        stored += [str(v) for (v,) in s.execute(text("SELECT data FROM measure_changes"))]
    assert not any(number in v for v in stored) and any(masked in v for v in stored)


@pytest.mark.parametrize("bad", [b'"a\\u0000b"', b'"a\\u001bb"', b'"a\\ud800b"'])
def test_a_change_reason_with_control_characters_is_refused(client, world, db, bad):  # type: ignore[no-untyped-def]
    """The reason is stored and shown as the definition's texts are: a NUL (a 500 on PostgreSQL), an
    escape or a lone surrogate is refused naming ``reason``, registered, and nothing changes."""
    login(client, "admin")
    h = {"X-CSRF-Token": client.get("/api/v1/session").json()["csrf_token"], "Content-Type": "application/json"}
    measure = client.get("/api/v1/measures/green_channel").json()
    scenario = client.get("/api/v1/scenarios/awards").json()
    for path, body in (("/api/v1/measures/green_channel", {**measure, "basis": measure["basis"] + "。"}),
                       ("/api/v1/scenarios/awards", {**scenario, "name_en": "Awards!"})):
        body = {k: v for k, v in body.items() if k != "version"}
        r = client.put(path, content=orjson.dumps({**body, "reason": "x"}).replace(b'"x"', bad), headers=h)
        assert r.status_code == 422, r.text
        assert [e["field"] for e in r.json()["errors"]] == ["reason"]
    assert client.get("/api/v1/measures/green_channel").json() == measure
    assert client.get("/api/v1/scenarios/awards").json() == scenario
    with db.session() as s:
        got = [(e.action, e.outcome, e.details["field"]) for e in s.scalars(select(AuditEntry).where(
            AuditEntry.action.in_(["measures.measure_save", "measures.scenario_save"])).order_by(AuditEntry.id))]
    assert got == [("measures.measure_save", "failed", "reason"), ("measures.scenario_save", "failed", "reason")]
