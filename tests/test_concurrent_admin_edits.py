"""Two admins save the same versioned definition at once (or a form is sent twice): both saves are
kept as consecutive versions, in the order they were written, or the second changes nothing if it
brings what the first saved. Before, on PostgreSQL, the second failed on the (code, version)
constraint (catalog), numbered its version like the first (measures) or collided with it (rulesets)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select
from tests.support import SYSTEM, at_once, committed_database

from xinyong.audit.models import AuditEntry
from xinyong.catalog import service as catalog
from xinyong.catalog.models import CatalogItem
from xinyong.catalog.spec import to_data
from xinyong.measures import service as measures
from xinyong.measures.models import Measure, MeasureChange, Scenario
from xinyong.scoring import service as scoring
from xinyong.scoring.models import ScoringRuleset

TODAY = date(2026, 11, 26)


@pytest.mark.parametrize("same", [False, True], ids=["two-changes", "the-same-change-twice"])
def test_a_catalog_item_edited_twice_at_once(tmp_path, same: bool) -> None:  # type: ignore[no-untyped-def]
    db, drop = committed_database(tmp_path, "catalogedit")
    try:
        with db.session() as s:
            catalog.load_default(s, actor=SYSTEM)
            spec = to_data(catalog.get_current(s, "honor").spec)
        first = {**spec, "legal_basis": "第一次修改"}
        second = first if same else {**spec, "legal_basis": "第二次修改"}
        assert at_once(db, lambda s: catalog.update_item(s, code="honor", data=first, actor=SYSTEM),
                       lambda s: catalog.update_item(s, code="honor", data=second, actor=SYSTEM)) == []
        with db.session() as s:
            versions = [(r.version, r.is_current, r.spec["legal_basis"]) for r in s.scalars(
                select(CatalogItem).where(CatalogItem.code == "honor").order_by(CatalogItem.version))]
        assert [v for v, _c, _b in versions] == ([1, 2] if same else [1, 2, 3])
        assert [c for _v, c, _b in versions] == [False] * (len(versions) - 1) + [True]
        assert versions[-1][2] == second["legal_basis"]
    finally:
        drop()


def test_a_measure_saved_twice_at_once_gets_two_versions(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db, drop = committed_database(tmp_path, "measureedit")
    try:
        with db.session() as s:
            measures.load_default(s, actor=SYSTEM)
            row = s.scalars(select(Measure).order_by(Measure.code)).first()
            assert row is not None and row.version == 1
            code = row.code
            base = {k: getattr(row, k) for k in ("code", "name_zh", "name_en", "kind", "applies_to", "scenarios",
                                                 "department", "basis", "active")}
        assert at_once(db, lambda s: measures.save_measure(s, data={**base, "basis": "依据甲"}, actor=SYSTEM),
                       lambda s: measures.save_measure(s, data={**base, "basis": "依据乙"}, actor=SYSTEM)) == []
        with db.session() as s:
            assert s.scalar(select(Measure.version).where(Measure.code == code)) == 3
            assert s.scalar(select(Measure.basis).where(Measure.code == code)) == "依据乙"
            history = s.scalars(select(MeasureChange.version).where(MeasureChange.code == code,
                                                                   MeasureChange.object_type == "measure")
                                .order_by(MeasureChange.id)).all()
            assert history[-2:] == [2, 3]
    finally:
        drop()


@pytest.mark.parametrize("same", [False, True], ids=["two-definitions", "the-same-definition-twice"])
def test_a_new_measure_and_scenario_created_twice_at_once(tmp_path, same: bool) -> None:  # type: ignore[no-untyped-def]
    """No row to lock yet: the second's insert meets the first's on the unique code. Before, on
    PostgreSQL, it failed there (a 500 from the admin page); now it becomes the next version, or
    changes nothing if it brings the same definition."""
    db, drop = committed_database(tmp_path, "measurenew")
    try:
        with db.session() as s:
            measures.load_default(s, actor=SYSTEM)
        scenario = {"code": "housing_support", "name_zh": "住房保障", "name_en": "Housing support"}
        measure = {"code": "housing_priority", "name_zh": "住房保障优先", "name_en": "Housing priority",
                   "kind": "incentive", "applies_to": ["red_volunteer"], "scenarios": ["subsidies"],
                   "department": "区住建局", "basis": "依据甲"}
        other_s = scenario if same else {**scenario, "name_en": "Housing assistance"}
        other_m = measure if same else {**measure, "basis": "依据乙"}
        for save, first, second in ((measures.save_scenario, scenario, other_s),
                                    (measures.save_measure, measure, other_m)):
            assert at_once(db, lambda s, save=save, first=first: save(s, data=first, actor=SYSTEM),
                           lambda s, save=save, second=second: save(s, data=second, actor=SYSTEM)) == []
        with db.session() as s:
            m = s.scalar(select(Measure).where(Measure.code == "housing_priority"))
            assert m is not None and (m.version, m.basis) == ((1, "依据甲") if same else (2, "依据乙"))
            sc = s.scalar(select(Scenario).where(Scenario.code == "housing_support"))
            assert sc is not None and (sc.version, sc.name_en) == ((1, "Housing support") if same
                                                                   else (2, "Housing assistance"))
            for kind, code in (("measure", "housing_priority"), ("scenario", "housing_support")):
                history = s.scalars(select(MeasureChange.version).where(MeasureChange.code == code,
                                                                       MeasureChange.object_type == kind)
                                    .order_by(MeasureChange.id)).all()
                assert history == ([1] if same else [1, 2])
                saves = s.scalar(select(func.count()).select_from(AuditEntry).where(
                    AuditEntry.action == f"measures.{kind}_save", AuditEntry.object_id == code))
                assert saves == len(history)
    finally:
        drop()


def test_two_rulesets_saved_at_once_get_consecutive_versions(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db, drop = committed_database(tmp_path, "rulesetedit")
    try:
        with db.session() as s:
            scoring.ensure_default(s)
        text_ = scoring.default_text()
        later = date(2027, 1, 1)
        assert at_once(db, lambda s: scoring.save_ruleset(s, text_=text_, actor=SYSTEM, today=TODAY,
                                                          effective_from=later, note="甲"),
                       lambda s: scoring.save_ruleset(s, text_=text_, actor=SYSTEM, today=TODAY,
                                                      effective_from=later, note="乙")) == []
        with db.session() as s:
            rows = s.execute(select(ScoringRuleset.version, ScoringRuleset.note).where(ScoringRuleset.version > 0)
                             .order_by(ScoringRuleset.version)).all()
            assert [tuple(r) for r in rows] == [(1, "default ruleset"), (2, "甲"), (3, "乙")]
            assert s.scalar(select(func.count()).select_from(ScoringRuleset).where(ScoringRuleset.version > 0)) == 3
    finally:
        drop()
