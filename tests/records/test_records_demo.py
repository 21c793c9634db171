"""The demo pushes a realistic mix through the ingestion service (issue 3, point 7)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from xinyong.catalog.service import current_items
from xinyong.demo import build_demo
from xinyong.records.models import Record


def test_demo_records_cover_every_item_severity_and_status(db, vault):  # type: ignore[no-untyped-def]
    with db.session() as s:
        info = build_demo(s, vault=vault, people=300, seed=5, today=date(2026, 11, 26))
        counts = info.extras["records"]
        assert counts["created"] > 300 and counts["rejected"] == 0 and counts["revoked"] >= 1
        items = set(s.scalars(select(Record.item_code).distinct()))
        assert items == set(current_items(s))
        severities = set(s.execute(select(Record.item_code, Record.severity)
                                   .where(Record.item_code == "admin_penalty").distinct()))
        assert {sev for _, sev in severities} == {"minor", "general", "serious"}
        statuses = dict(s.execute(select(Record.status, func.count()).group_by(Record.status)).all())
        assert statuses.get("revoked", 0) == counts["revoked"]
        assert statuses.get("expired", 0) > 0 and statuses.get("active", 0) > 0
        # some debtors' listings extended by the court, some bad records giving the end of their act
        from xinyong.records.display import add_months

        debtors = s.execute(select(Record.decided_at, Record.display_until, Record.fields)
                            .where(Record.item_code == "dishonest_debtor")).all()
        extended = [d for d in debtors if d.fields.get("extension_years")]
        assert extended and all(d.display_until == add_months(d.decided_at, 24 + 12 * d.fields["extension_years"])
                                for d in extended)
        ends = s.execute(select(Record.fields, Record.display_until, Record.retain_until)
                         .where(Record.category.in_(("bad", "serious")))).all()
        given = [e for e in ends if "act_ended_on" in e.fields]
        assert given and all(e.retain_until == max(add_months(date.fromisoformat(e.fields["act_ended_on"]), 60),
                                                   e.display_until) for e in given)


def test_demo_records_arrive_as_departments_deliver_them(db, vault):  # type: ignore[no-untyped-def]
    """Each record is sent on its department's delivery day, not the demo's: the data-quality view of
    licences and penalties (7 working days) shows most on time and some late (every one was late,
    by up to years, when the whole history arrived on the day the demo was built)."""
    from xinyong.records.quality import department_quality

    with db.session() as s:
        build_demo(s, vault=vault, people=300, seed=5, today=date(2026, 11, 26))
        assert s.scalar(select(func.min(Record.arrival_working_days))) >= 0
        rows = [q for q in department_quality(s) if q.with_deadline]
        assert rows
        late, timed = sum(q.late for q in rows), sum(q.with_deadline for q in rows)
        assert 0 < late < timed * 0.25, (late, timed)


def test_a_small_demo_still_covers_every_severity_a_revocation_and_an_ended_display(db, vault):  # type: ignore[no-untyped-def]
    """Point 7 holds for any ``--people``, not only when the draw is long enough: with one citizen
    the default seed once left tax_violation without ``general`` and revoked nothing."""
    from xinyong.demo import DEFAULT_SEED

    with db.session() as s:
        info = build_demo(s, vault=vault, people=1, seed=DEFAULT_SEED, today=date(2026, 11, 26))
        counts = info.extras["records"]
        assert counts["rejected"] == 0 and counts["revoked"] >= 1
        have = {tuple(r) for r in s.execute(select(Record.item_code, Record.severity).distinct())}
        for code, item in current_items(s).items():
            for sev in item.spec.severities or [None]:
                assert (code, sev) in have, (code, sev)
        statuses = dict(s.execute(select(Record.status, func.count()).group_by(Record.status)).all())
        assert statuses.get("revoked", 0) >= 1
        # past its display period: ended (expired) or, past retention too, archived — a serious penalty included
        assert s.scalar(select(func.count()).where(Record.item_code == "admin_penalty", Record.severity == "serious",
                                                    Record.status.in_(("expired", "archived")))) >= 1


def test_the_demo_gives_an_end_of_act_only_where_it_leaves_the_record_kept_for_years():
    """A record whose act ended long ago is archived on arrival, and the demo revokes some records: an
    archived one cannot be (``make demo`` with 2,000 people stopped on it). Its end-of-act dates keep
    every such record's retention years ahead."""
    from datetime import timedelta

    from tests.support import new_id_number

    from xinyong.records import demo
    from xinyong.records.display import add_months

    today = date(2026, 11, 29)
    people = [(new_id_number(), "张三") for _ in range(2000)]
    built = demo.build(people, today=today, seed=2018)
    given = [r for recs in built.by_department.values() for r in recs if "act_ended_on" in r["fields"]]
    assert len(given) > 50
    assert all(add_months(date.fromisoformat(r["fields"]["act_ended_on"]), 60) > today + timedelta(days=30)
               for r in given)
