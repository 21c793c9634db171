"""Scoring API: who may read whose score, what-if, rulesets, preview, distribution; every call audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from xinyong import clock
from xinyong.audit.models import AuditEntry
from xinyong.scoring import service
from xinyong.scoring.models import ScoringRuleset, SubjectStatus


def audits(db, action: str, outcome: str = "ok") -> int:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(AuditEntry)
                        .where(AuditEntry.action == action, AuditEntry.outcome == outcome)) or 0


@pytest.mark.parametrize("who", ["admin", "officer", "auditor"])
def test_staff_read_any_score(client, login, db, world, scored, who) -> None:  # type: ignore[no-untyped-def]
    login(client, world.users[who].username)
    r = client.get(f"/api/v1/subjects/{world.other_subject.id}/score")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["score"], body["grade"], body["ruleset_version"]) == (900, "B", 1)
    c = body["contributions"][0]
    assert set(c) == {"record_id", "item", "variant", "decided_at", "points", "reason", "counts_until"}
    assert c["points"] == -100 and " / " in c["reason"]
    assert audits(db, "score.read") == 1


def test_department_key_reads_scores(client, db, world, scored) -> None:  # type: ignore[no-untyped-def]
    r = client.get(f"/api/v1/subjects/{world.citizen_subject.id}/score", headers=world.bearer(world.key_b))
    assert r.status_code == 200 and r.json()["score"] == 990
    assert audits(db, "score.read") == 1


def test_citizen_reads_only_their_own(client, login, db, world, scored) -> None:  # type: ignore[no-untyped-def]
    login(client, "zhangsan")
    own = client.get(f"/api/v1/subjects/{world.citizen_subject.id}/score")
    assert own.status_code == 200
    e = own.json()
    assert e["score"] == e["base"] + sum(c["points"] for c in e["contributions"]) == 990
    other = client.get(f"/api/v1/subjects/{world.other_subject.id}/score")
    assert other.status_code == 404
    missing = client.get("/api/v1/subjects/987654/score")
    assert missing.status_code == 404 and missing.json()["code"] == other.json()["code"]
    assert audits(db, "score.read") == 1 and audits(db, "score.read", "denied") == 2
    w = client.post(f"/api/v1/subjects/{world.other_subject.id}/score/what-if",
                    json={"changes": [{"remove_record": scored["penalty"]}]}, headers={"X-CSRF-Token": "x"})
    assert w.status_code in (403, 404)


def test_institution_refused(client, login, db, world, scored) -> None:  # type: ignore[no-untyped-def]
    login(client, "bank")
    r = client.get(f"/api/v1/subjects/{world.citizen_subject.id}/score")
    assert r.status_code == 403
    assert audits(db, "auth.forbidden", "denied") == 1


def test_unauthenticated(client, world) -> None:  # type: ignore[no-untyped-def]
    assert client.get(f"/api/v1/subjects/{world.citizen_subject.id}/score").status_code == 401


def test_citizen_what_if_writes_nothing(client, login, db, world, scored) -> None:  # type: ignore[no-untyped-def]
    csrf = login(client, "zhangsan")
    with db.session() as s:
        before = s.get(SubjectStatus, world.citizen_subject.id).score
    r = client.post(f"/api/v1/subjects/{world.citizen_subject.id}/score/what-if", headers={"X-CSRF-Token": csrf},
                    json={"changes": [{"remove_record": scored["penalty"]},
                                      {"add": {"item": "honor", "level": "national"}}]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["current_score"], body["score"], body["grade"]) == (990, 1040, "AA")
    with db.session() as s:
        assert s.get(SubjectStatus, world.citizen_subject.id).score == before
    assert audits(db, "score.what_if") == 1
    bad = client.post(f"/api/v1/subjects/{world.citizen_subject.id}/score/what-if", headers={"X-CSRF-Token": csrf},
                      json={"changes": [{"add": {"item": "honor", "level": "galactic"}}]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "changes[0].add.level"


def test_lookup_for_citizen_self_and_staff(client, login, db, world) -> None:  # type: ignore[no-untyped-def]
    csrf = login(client, "zhangsan")
    r = client.post("/api/v1/subjects/lookup", json={"id_number": world.citizen_id_number},
                    headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json() == {"subject_id": world.citizen_subject.id}
    r = client.post("/api/v1/subjects/lookup", json={"id_number": world.other_id_number},
                    headers={"X-CSRF-Token": csrf})
    assert r.status_code == 404
    r = client.post("/api/v1/subjects/lookup", json={"id_number": world.other_id_number},
                    headers=world.bearer(world.key_a))
    assert r.status_code == 200 and r.json() == {"subject_id": world.other_subject.id}
    assert audits(db, "subject.lookup") == 2 and audits(db, "subject.lookup", "denied") == 1


def test_rulesets_api(client, login, db, world, scored) -> None:  # type: ignore[no-untyped-def]
    csrf = login(client, "admin")
    h = {"X-CSRF-Token": csrf}
    listed = client.get("/api/v1/scoring/rulesets")
    assert listed.status_code == 200 and listed.json()[0]["version"] == 1 and listed.json()[0]["active"] is True
    one = client.get("/api/v1/scoring/rulesets/1").json()
    assert one["spec"]["base"] == 1000 and one["source"].startswith("#") and len(one["rules"]) > 20
    assert client.get("/api/v1/scoring/rulesets/99").status_code == 404
    text = service.default_text()
    bad = text.replace("  - {grade: B, min: 850, max: 959}", "  - {grade: B, min: 850, max: 950}")
    r = client.post("/api/v1/scoring/rulesets", content=bad.encode(), headers={**h, "Content-Type": "application/yaml"})
    assert r.status_code == 422
    err = r.json()["errors"][0]
    line = next(i for i, t in enumerate(bad.splitlines(), 1) if "max: 950" in t)
    assert err["code"] == "gap_between_bands" and err["line"] == line and f"第{line}行" in err["message"]
    assert audits(db, "scoring.ruleset_create", "failed") == 1
    tomorrow = (clock.today() + timedelta(days=1)).isoformat()
    p = client.post("/api/v1/scoring/rulesets/preview", json={"yaml": text.replace("base: 1000", "base: 960")},
                    headers=h)
    assert p.status_code == 200, p.text
    assert p.json()["subjects"] == 2 and p.json()["changes"] == [{"from": "A", "to": "B", "count": 1}]
    assert audits(db, "scoring.preview") == 1
    ok = client.post("/api/v1/scoring/rulesets", headers=h,
                     json={"ruleset": {"base": 1000, "grades": [{"grade": "P", "min": 900}, {"grade": "F", "max": 899}],
                                       "items": {"blood_donation": {"default": {"points": 5, "window_months": 12}}}},
                           "effective_from": tomorrow, "note": "json"})
    assert ok.status_code == 201, ok.text
    assert ok.json()["version"] == 2 and ok.json()["active"] is False
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ScoringRuleset)) == 2
    officer = client.get("/api/v1/scoring/distribution", headers=world.bearer(world.key_a))
    assert officer.status_code == 200 and officer.json()["total"] >= 2
    refused = client.post("/api/v1/scoring/rulesets", json={"yaml": text}, headers=world.bearer(world.key_a))
    assert refused.status_code == 403



def test_refused_what_if_and_preview_are_audited(client, login, db, world, scored) -> None:  # type: ignore[no-untyped-def]
    """Every call is audited, refusals as ``failed`` (docs/scoring.md): a what-if or a preview refused
    with a 422 leaves its entry too, as a refused ruleset and a refused lookup do."""
    csrf = login(client, "admin")
    h = {"X-CSRF-Token": csrf}
    r = client.post(f"/api/v1/subjects/{world.citizen_subject.id}/score/what-if", headers=h,
                    json={"changes": [{"add": {"item": "honor", "level": "galactic"}}]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "changes[0].add.level"
    assert audits(db, "score.what_if", "failed") == 1
    bad = service.default_text().replace("base: 1000", "base: lots")
    p = client.post("/api/v1/scoring/rulesets/preview", json={"yaml": bad}, headers=h)
    assert p.status_code == 422 and p.json()["errors"][0]["field"] == "base"
    assert audits(db, "scoring.preview", "failed") == 1


@pytest.mark.parametrize(("body", "field", "code"), [
    ({"yaml": "base: 1000", "effective_from": "next week"}, "effective_from", "date_from_datetime_parsing"),
    ({"yaml": 5}, "yaml", "string_type"),
    ({"yaml": "base: 1000", "extra": 1}, "extra", "extra_forbidden"),
    ({"ruleset": "x"}, "ruleset", "dict_type"),
])
@pytest.mark.parametrize("path", ["/api/v1/scoring/rulesets", "/api/v1/scoring/rulesets/preview"])
def test_ruleset_json_body_refusals_name_the_field(client, login, world, scored, path, body, field, code) -> None:  # type: ignore[no-untyped-def]
    """A JSON body's wrong field is named, Chinese first, like every other endpoint's 422 (it was
    ``body`` with pydantic's English dump)."""
    csrf = login(client, "admin")
    r = client.post(path, json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422, r.text
    [err] = r.json()["errors"]
    assert (err["field"], err["code"]) == (field, code)
    zh, _, en = err["message"].partition(" / ")
    assert zh and en and not zh.isascii() and "pydantic" not in err["message"]


@pytest.mark.parametrize("rid", [2**63, 2**70, 0, -1])
def test_what_if_removing_a_record_id_out_of_range_is_refused(client, login, db, world, scored, rid) -> None:  # type: ignore[no-untyped-def]
    """A record id beyond BIGINT is no record of the subject: a clear 422 naming the field, audited
    as ``failed`` (it was a 500 on SQLite: the number could not be bound)."""
    csrf = login(client, "zhangsan")
    r = client.post(f"/api/v1/subjects/{world.citizen_subject.id}/score/what-if", headers={"X-CSRF-Token": csrf},
                    json={"changes": [{"remove_record": rid}]})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0] == {"field": "changes[0].remove_record", "code": "unknown_record",
                                     "message": r.json()["message"]}
    assert audits(db, "score.what_if", "failed") == 1


def test_ruleset_reads_are_audited(client, db, world, scored) -> None:  # type: ignore[no-untyped-def]
    """Every call of the scoring API is audited (docs/scoring.md), the ruleset reads too: the list of
    versions, one version, and one that does not exist (``denied``, ``reason: not_found``, as every
    404 is registered)."""
    h = world.bearer(world.key_a)
    assert client.get("/api/v1/scoring/rulesets", headers=h).status_code == 200
    assert client.get("/api/v1/scoring/rulesets/1", headers=h).status_code == 200
    assert client.get("/api/v1/scoring/rulesets/99", headers=h).status_code == 404
    assert audits(db, "scoring.rulesets") == 1
    assert audits(db, "scoring.ruleset_read") == 1 and audits(db, "scoring.ruleset_read", "denied") == 1



def _entries(db, action: str) -> list[tuple[str, str | None, dict]]:  # type: ignore[no-untyped-def,type-arg]
    with db.session() as s:
        return [(e.outcome, e.object_id, e.details) for e in
                s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))]


@pytest.mark.parametrize(("body", "field", "code"), [
    ({"changes": []}, "changes", "too_short"),
    ({"changes": [{"add": {"item": "honor"}}], "extra": 1}, "extra", "extra_forbidden"),
    (b"not json", "body", "json_invalid"),
])
def test_what_if_body_refused_by_the_schema_is_audited(client, login, db, world, scored, body, field, code) -> None:  # type: ignore[no-untyped-def]
    """Every call is audited (issue 4), refusals as ``failed``: a what-if whose body the schema refuses
    (422 before the route runs) leaves its ``score.what_if`` entry with code and field, as one the
    rules refuse does — by staff and by the citizen for themself."""
    for who in ("admin", "zhangsan"):
        csrf = login(client, who)
        url = f"/api/v1/subjects/{world.citizen_subject.id}/score/what-if"
        h = {"X-CSRF-Token": csrf}
        r = (client.post(url, content=body, headers={**h, "Content-Type": "application/json"})
             if isinstance(body, bytes) else client.post(url, json=body, headers=h))
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == field
    assert _entries(db, "score.what_if") == [
        ("failed", str(world.citizen_subject.id), {"code": code, "field": field})] * 2


@pytest.mark.parametrize(("body", "ctype", "field", "code"), [
    (b'{"yaml": "base: 1000", "extra": 1}', "application/json", "extra", "extra_forbidden"),
    (b'{"note": "x"}', "application/json", "yaml", "missing"),
    (b"{not json", "application/json", "body", "json_invalid"),
    (b"\xff\xfe base", "application/yaml", "body", "encoding"),
])
@pytest.mark.parametrize(("path", "action"), [("/api/v1/scoring/rulesets", "scoring.ruleset_create"),
                                              ("/api/v1/scoring/rulesets/preview", "scoring.preview")])
def test_ruleset_body_refusals_are_audited(client, login, db, world, scored, path, action, body, ctype, field, code) -> None:  # type: ignore[no-untyped-def]
    """A ruleset or preview body refused before the ruleset is read (not JSON, a wrong or missing
    field, not UTF-8) is audited ``failed`` with its code and field, as a ruleset refused for its
    content is; nothing is written."""
    csrf = login(client, "admin")
    r = client.post(path, content=body, headers={"X-CSRF-Token": csrf, "Content-Type": ctype})
    assert r.status_code == 422, r.text
    assert (r.json()["errors"][0]["field"], r.json()["errors"][0]["code"]) == (field, code)
    [(_outcome, _obj, details)] = [e for e in _entries(db, action) if e[0] == "failed"]
    assert details["code"] == code and details["field"] == field
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ScoringRuleset)) == 1


def test_ruleset_body_refusal_keeps_no_id_number_in_the_audit(client, login, db, world, scored) -> None:  # type: ignore[no-untyped-def]
    """A key the caller made up is answered by name but registered as ``body``: it may be an ID number."""
    csrf = login(client, "admin")
    r = client.post("/api/v1/scoring/rulesets/preview", json={"yaml": "base: 1000", world.other_id_number: 1},
                    headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "extra_forbidden"
    [(_outcome, _obj, details)] = [e for e in _entries(db, "scoring.preview") if e[0] == "failed"]
    assert details == {"code": "extra_forbidden", "field": "body", "errors": 1}


@pytest.mark.parametrize("path", ["/api/v1/scoring/rulesets", "/api/v1/scoring/rulesets/preview"])
def test_ruleset_with_a_character_yaml_refuses_is_a_422_not_a_500(client, login, db, world, scored, path) -> None:  # type: ignore[no-untyped-def]
    csrf = login(client, "admin")
    text = service.default_text().replace("base: 1000", "base: 1000  # \x00")
    r = client.post(path, content=text.encode(), headers={"X-CSRF-Token": csrf, "Content-Type": "application/yaml"})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["code"] == "yaml_syntax" and r.json()["errors"][0]["line"] is not None
    assert [e[2]["code"] for e in _entries(db, "scoring.preview" if path.endswith("preview") else
                                           "scoring.ruleset_create") if e[0] == "failed"] == ["yaml_syntax"]


@pytest.mark.parametrize(("text", "code"), [("base: &b [*b]\n", "yaml_alias"),
                                          ("base: " + "[" * 3000 + "]" * 3000 + "\n", "too_deep"),
                                          ("? [a, b]\n: 1\n", "wrong_type")])
def test_yaml_the_walk_cannot_follow_is_a_422_not_a_500(client, login, db, world, scored, text, code) -> None:  # type: ignore[no-untyped-def]
    """A self-referencing alias, nesting thousands deep, a list as a key: each was a 500 (RecursionError,
    TypeError) from the preview and the save alike; now refused and registered as any ruleset refusal."""
    csrf = login(client, "admin")
    for path, action in (("/api/v1/scoring/rulesets/preview", "scoring.preview"),
                         ("/api/v1/scoring/rulesets?effective_from=2099-01-01", "scoring.ruleset_create")):
        r = client.post(path, content=text.encode(), headers={"X-CSRF-Token": csrf, "Content-Type": "application/yaml"})
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["code"] == code
        assert [e[2]["code"] for e in _entries(db, action) if e[0] == "failed"] == [code]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ScoringRuleset)) == 1


@pytest.mark.parametrize("depth", [900, 3000])
def test_a_json_ruleset_nested_too_deep_is_a_422_not_a_500(client, login, db, world, scored, depth) -> None:  # type: ignore[no-untyped-def]
    """``{"ruleset": …}`` nested hundreds deep: turning it into YAML (900) or reading the JSON (3000)
    recursed past Python's limit, a 500 (the connection dropped); now refused naming the field, and
    registered as a body refused before its rules are."""
    csrf = login(client, "admin")
    body = ('{"ruleset": {"base": ' + "[" * depth + "]" * depth + "}}").encode()
    for path, action in (("/api/v1/scoring/rulesets/preview", "scoring.preview"),
                         ("/api/v1/scoring/rulesets", "scoring.ruleset_create")):
        r = client.post(path, content=body, headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"})
        assert r.status_code == 422, r.text[:300]
        err = r.json()["errors"][0]
        assert err["code"] == "too_deep" and err["field"] in ("body", "ruleset") and " / " in err["message"]
        assert [e[2]["code"] for e in _entries(db, action) if e[0] == "failed"] == ["too_deep"]


def test_a_ruleset_or_what_if_body_refused_before_its_rules_is_registered(client, login, db, world, scored) -> None:  # type: ignore[no-untyped-def]
    """Not JSON, neither yaml nor ruleset, a field the schema refuses, a query that is no date, a
    what-if without changes: each leaves one ``failed`` entry under the route's action, with the
    code and field, never the text sent."""
    csrf = login(client, "admin")
    h = {"X-CSRF-Token": csrf}
    json_h = {**h, "Content-Type": "application/json"}
    assert client.post("/api/v1/scoring/rulesets", content=b"{", headers=json_h).status_code == 422
    assert client.post("/api/v1/scoring/rulesets", json={"note": "secret-ish"}, headers=h).status_code == 422
    assert client.post("/api/v1/scoring/rulesets", json={"yaml": "x", "colour": 1}, headers=h).status_code == 422
    assert client.post("/api/v1/scoring/rulesets?effective_from=2026-02-30", content=b"base: 1",
                       headers={**h, "Content-Type": "application/yaml"}).status_code == 422
    assert client.post("/api/v1/scoring/rulesets/preview", content=b"\xff\xfe",
                       headers={**h, "Content-Type": "application/yaml"}).status_code == 422
    assert client.post(f"/api/v1/subjects/{world.other_subject.id}/score/what-if", json={"changes": []},
                       headers=h).status_code == 422
    with db.session() as s:
        got = [(e.action, e.outcome, e.object_id, e.details) for e in s.scalars(
            select(AuditEntry).where(AuditEntry.action.in_(["scoring.ruleset_create", "scoring.preview",
                                                            "score.what_if"]),
                                          AuditEntry.outcome == "failed").order_by(AuditEntry.id))]
    assert got == [
        ("scoring.ruleset_create", "failed", None, {"code": "json_invalid", "field": "body", "errors": 1}),
        ("scoring.ruleset_create", "failed", None, {"code": "missing", "field": "yaml", "errors": 1}),
        ("scoring.ruleset_create", "failed", None, {"code": "extra_forbidden", "field": "colour", "errors": 1}),
        ("scoring.ruleset_create", "failed", None, {"code": "date_from_datetime_parsing", "field": "effective_from",
                                                  "errors": 1}),
        ("scoring.preview", "failed", None, {"code": "encoding", "field": "body", "errors": 1}),
        ("score.what_if", "failed", str(world.other_subject.id), {"code": "too_short", "field": "changes"}),
    ]
    assert "secret-ish" not in str(got)
    big = client.post("/api/v1/scoring/rulesets", content=b"#" * 200_001, headers={**h, "Content-Type": "application/yaml"})
    assert big.status_code == 413 and big.json()["code"] == "too_large"
    with db.session() as s:
        last = s.scalars(select(AuditEntry).where(AuditEntry.action == "scoring.ruleset_create")
                         .order_by(AuditEntry.id.desc())).first()
    assert (last.outcome, last.details) == ("failed", {"code": "too_large", "field": "body", "errors": 1,
                                                       "bytes": 200_001})
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ScoringRuleset)) == 1
