"""The default ruleset is loaded lazily by the first transaction that needs it (``scoring.active``):
two transactions needing it at the same moment — two workers' first pushes on a new database —
both succeed and leave one ruleset (on PostgreSQL they would both insert version 1 without the
transaction lock of ``ensure_default``)."""

from __future__ import annotations

import threading
import uuid
from datetime import date

from sqlalchemy import func, select, text
from tests.support import PG_URL

from xinyong import migrate
from xinyong.db import Database
from xinyong.scoring import service
from xinyong.scoring.models import ScoringRuleset


def _committed_database(tmp_path) -> tuple[Database, object]:  # type: ignore[no-untyped-def]
    """A database of this test's own with real commits: a SQLite file, or a PostgreSQL schema."""
    if not PG_URL:
        url = f"sqlite:///{tmp_path / 'race.db'}"
        migrate.upgrade(url)
        db = Database(url)
        return db, db.dispose
    schema = f"xy_race_{uuid.uuid4().hex[:8]}"
    admin = Database(PG_URL)
    with admin.engine.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    db = Database(PG_URL + ("&" if "?" in PG_URL else "?") + f"options=-csearch_path%3D{schema}")
    with db.engine.begin() as c:
        migrate.upgrade(connection=c)

    def drop() -> None:
        db.dispose()
        with admin.engine.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return db, drop


def test_two_first_transactions_load_the_default_ruleset_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db, drop = _committed_database(tmp_path)
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
