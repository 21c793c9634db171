"""The demo puts people on every list, at every step of a listing (issue 4, point 6)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from xinyong.demo import build_demo
from xinyong.lists.models import ListEntry, ListKind


def test_demo_fills_every_list(db, vault):  # type: ignore[no-untyped-def]
    with db.session() as s:
        info = build_demo(s, vault=vault, people=300, seed=5, today=date(2026, 11, 26))
        entries = info.extras["lists"]["entries"]
        codes = set(s.scalars(select(ListKind.code)))
        assert codes == {"red_volunteer", "red_moral_model", "red_recommended", "serious_dishonesty",
                         "key_supervision", "dishonest_debtor"}
        for code in codes:
            assert entries.get(code, {}).get("listed", 0) >= 1, (code, entries)
        statuses = set(s.scalars(select(ListEntry.status).distinct()))
        assert {"proposed", "notified", "listed", "removed"} <= statuses
        defended = s.scalar(select(ListEntry).where(ListEntry.defence.is_not(None)))
        assert defended is not None and defended.status == "notified"
        debtor = s.scalar(select(ListEntry).where(ListEntry.list_code == "dishonest_debtor"))
        assert debtor.source == "catalog" and debtor.record_id is not None
