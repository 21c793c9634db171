"""List kinds as data: the shipped YAML, the idempotent versioned loader, refusals with their path,
the catch-up of a catalog-fed list loaded after its records, and the CLI commands."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.lists.lists_support import debtor, push, volunteer
from tests.support import SYSTEM, new_id_number
from typer.testing import CliRunner

from xinyong import clock
from xinyong.audit.models import AuditEntry
from xinyong.catalog.service import load_default as load_catalog
from xinyong.config import reset_settings_cache
from xinyong.db import Database
from xinyong.lists import service
from xinyong.lists.models import ListEntry, ListKind, ListKindVersion


def test_shipped_kinds(session):  # type: ignore[no-untyped-def]
    kinds = {k["code"]: k for k in service.read_yaml()}
    assert kinds["red_volunteer"]["params"]["rule"] == {"item": "volunteer_service", "field": "hours",
                                                        "at_least": 1500, "clean_years": 3}
    assert {c["code"] for c in kinds["serious_dishonesty"]["params"]["categories"]} == {
        "harm_health_life", "harm_fair_competition", "refuse_legal_duties", "refuse_defence_duties"}
    assert [c["name_zh"] for c in kinds["key_supervision"]["params"]["categories"]] == [
        "恶意逃废债务", "骗取财政资金", "行贿受贿", "非法集资", "电信诈骗", "网络欺诈", "金融欺诈", "交通违法",
        "不依法诚信纳税", "骗取就业创业优惠政策和社会保险基金"]
    assert all(k["params"]["defence_working_days"] == 5 for k in kinds.values()
               if k["kind"] == "dishonesty" and k["source"] == "decision")
    assert kinds["dishonest_debtor"]["source"] == "catalog" and kinds["dishonest_debtor"]["params"]["item"] == \
        "dishonest_debtor"


def test_loader_is_idempotent_and_versioned(session):  # type: ignore[no-untyped-def]
    first = service.load_default(session, actor=SYSTEM)
    assert set(first.values()) == {"created"} and len(first) == 6
    assert set(service.load_default(session, actor=SYSTEM).values()) == {"unchanged"}
    assert session.scalar(select(func.count()).select_from(ListKindVersion)) == 6
    kinds = service.read_yaml()
    changed = [dict(k) for k in kinds]
    ks = next(k for k in changed if k["code"] == "key_supervision")
    ks["params"] = {**ks["params"], "defence_working_days": 7}
    ks["public"] = True
    assert service.load_kinds(session, changed, actor=SYSTEM)["key_supervision"] == "unchanged"  # no --update
    out = service.load_kinds(session, changed, actor=SYSTEM, update_existing=True)
    assert out["key_supervision"] == "updated" and list(out.values()).count("updated") == 1
    row = service.get_kind(session, "key_supervision")
    assert (row.version, row.public, row.params["defence_working_days"]) == (2, True, 7)
    assert [v.data["params"]["defence_working_days"] for v in service.versions(session, "key_supervision")] == [5, 7]
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "list_kind.update"))
    assert entry.object_id == "key_supervision" and entry.details["changed"] == ["params", "public"]
    assert entry.details["before"]["defence_working_days"] == 5


def test_kind_and_source_cannot_change(session):  # type: ignore[no-untyped-def]
    service.load_default(session, actor=SYSTEM)
    data = service.kind_data(service.get_kind(session, "red_recommended"))
    data["kind"] = "dishonesty"
    data["params"]["defence_working_days"] = 5
    with pytest.raises(service.ListError) as exc:
        service.update_kind(session, code="red_recommended", data=data, actor=SYSTEM)
    assert exc.value.code == "kind_fixed"


@pytest.mark.parametrize(("mutate", "path"), [
    (lambda d: d.update(code="Bad Code"), "lists[0].code"),
    (lambda d: d.update(code="clean_3y"), "lists[0].code"),
    (lambda d: d.update(kind="purple"), "lists[0].kind"),
    (lambda d: d.update(source="oracle"), "lists[0].source"),
    (lambda d: d.update(public="yes"), "lists[0].public"),
    (lambda d: d.update(colour="red"), "lists[0].colour"),
    (lambda d: d.pop("name_zh"), "lists[0].name_zh"),
    (lambda d: d["params"].update(duration_months=0), "lists[0].params.duration_months"),
    (lambda d: d["params"].update(duration_months="3 years"), "lists[0].params.duration_months"),
    (lambda d: d["params"]["rule"].update(at_least="lots"), "lists[0].params.rule.at_least"),
    (lambda d: d["params"]["rule"].update(one_of=["x"]), "lists[0].params.rule"),
    (lambda d: d["params"]["rule"].update(clean_years=-1), "lists[0].params.rule.clean_years"),
    (lambda d: d["params"].pop("rule"), "lists[0].params.rule"),
    (lambda d: d["params"].update(categories=[{"code": "a_b", "name_zh": "甲"}]), "lists[0].params.categories[0]"),
    (lambda d: d["params"].update(surprise=1), "lists[0].params.surprise"),
])
def test_bad_kinds_are_refused_with_their_path(tmp_path: Path, mutate, path):  # type: ignore[no-untyped-def]
    import yaml

    data = yaml.safe_load(service.DEFAULT_LISTS.read_text(encoding="utf-8"))
    mutate(data["lists"][0])
    file = tmp_path / "lists.yaml"
    file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(service.ListError) as exc:
        service.read_yaml(file)
    assert exc.value.code == "invalid_list_kind" and exc.value.field == path
    assert exc.value.zh.startswith(path) and exc.value.en.startswith(path)


def test_duplicate_codes_refused(tmp_path: Path):  # type: ignore[no-untyped-def]
    import yaml

    data = yaml.safe_load(service.DEFAULT_LISTS.read_text(encoding="utf-8"))
    data["lists"].append(data["lists"][0])
    file = tmp_path / "lists.yaml"
    file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(service.ListError):
        service.read_yaml(file)


def test_debtor_list_loaded_after_its_records_catches_up(session, world, vault):  # type: ignore[no-untyped-def]
    load_catalog(session, actor=SYSTEM)
    push(session, vault, world.dept_a, [debtor(new_id_number(), "吴十", source_id="OLD-1")])
    assert session.scalar(select(func.count()).select_from(ListEntry)) == 0  # no list kinds yet
    service.load_default(session, actor=SYSTEM)
    [entry] = session.scalars(select(ListEntry)).all()
    assert (entry.list_code, entry.status, entry.source) == ("dishonest_debtor", "listed", "catalog")


def test_cli_load_refresh_expire(fresh_db_url, monkeypatch, vault):  # type: ignore[no-untyped-def]
    from xinyong.auth import service as auth_service
    from xinyong.cli import app

    monkeypatch.setenv("XINYONG_DATABASE_URL", fresh_db_url)
    runner = CliRunner()

    def run(*args: str):  # type: ignore[no-untyped-def]
        reset_settings_cache()
        try:
            result = runner.invoke(app, list(args), catch_exceptions=False)
        finally:
            reset_settings_cache()
        return result

    r = run("lists", "load")
    assert r.exit_code == 0 and "red_volunteer\tcreated" in r.output
    assert "red_volunteer\tunchanged" in run("lists", "load").output
    db = Database(fresh_db_url)
    try:
        with db.session() as s:
            load_catalog(s, actor=SYSTEM)
            dept = auth_service.add_department(s, code="tqw", name="团区委", actor=SYSTEM)
            push(s, vault, dept, [volunteer(new_id_number(), "志愿辛", 1800)])
        r = run("lists", "refresh", "--today", "2026-11-26")
        assert r.exit_code == 0 and "red_volunteer\t列入 / added: 1" in r.output
        assert "red_volunteer\t列入 / added: 0\t移出 / removed: 0" in run("lists", "refresh", "--today", "2026-11-26").output
        with db.session() as s:
            s.execute(ListEntry.__table__.update().values(valid_until=date(2026, 12, 1)))
        # a day that has not come is refused, nothing ends, the refusal registered; --allow-future rehearses
        ahead = (clock.today() + timedelta(days=1)).isoformat()
        for command in ("expire", "refresh"):
            r = run("lists", command, "--today", ahead)
            assert r.exit_code == 1 and "晚于本区今天" in r.output and "--allow-future" in r.output, r.output
        with db.session() as s:
            assert s.scalar(select(ListEntry.status)) == "listed"
            refused = s.execute(select(AuditEntry.action, AuditEntry.outcome, AuditEntry.details)
                                .where(AuditEntry.outcome == "failed").order_by(AuditEntry.id)).all()
        assert [(a, o, d["code"], d["via"]) for a, o, d in refused] == [
            ("lists.expire", "failed", "future_day", "cli"), ("lists.refresh", "failed", "future_day", "cli")]
        r = run("lists", "expire", "--today", "2026-12-01", "--allow-future")
        assert r.exit_code == 0 and "expired: 1" in r.output
        assert run("lists", "expire", "--today", "not-a-date").exit_code == 2
        with db.session() as s:
            assert s.scalar(select(ListEntry.status)) == "removed"
            assert s.scalar(select(func.count()).select_from(ListKind)) == 6
    finally:
        db.dispose()
