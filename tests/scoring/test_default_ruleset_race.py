"""The default ruleset is loaded lazily by the first transaction that needs it (``scoring.active``):
two transactions needing it at the same moment — two workers' first pushes on a new database —
both succeed and leave one ruleset (on PostgreSQL they would both insert version 1 without the
transaction lock of ``ensure_default``)."""

from __future__ import annotations

import threading
from datetime import date

from sqlalchemy import func, select
from tests.support import PG_URL, committed_database

from xinyong.scoring import service
from xinyong.scoring.models import ScoringRuleset


def test_two_first_transactions_load_the_default_ruleset_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db, drop = committed_database(tmp_path, "race")
    try:
        start = threading.Barrier(2)
        versions: list[int] = []
        errors: list[BaseException] = []

        def first_use() -> None:
            try:
                if not PG_URL:  # SQLite's writers take turns from BEGIN: they meet before it
                    start.wait(5)
                with db.session() as s:
                    if PG_URL:  # both transactions are open before either looks for the ruleset
                        s.execute(select(1))
                        start.wait(5)
                    versions.append(service.active(s, today=date(2026, 11, 26)).version)
            except BaseException as exc:  # noqa: BLE001 - asserted below
                errors.append(exc)

        threads = [threading.Thread(target=first_use) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert errors == []
        assert versions == [1, 1]
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(ScoringRuleset).where(ScoringRuleset.version > 0)) == 1
    finally:
        drop()
