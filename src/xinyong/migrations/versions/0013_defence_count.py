"""defence_count: how a notice counted its defence deadline, kept on the entry

A listing's defence deadline is N working days after the day the person was told. When the holiday
table changes (``xinyong calendar``), the deadlines still running are counted again the way their
notice counted them: from that day (``defence_from``, which need not be the day ``notified_at``
recorded), with that many working days (``defence_days``, which the list kind may have changed
since). Entries notified before this version get both from their notice's audit entry.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27
"""

from __future__ import annotations

import json
from datetime import date

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("list_entries", sa.Column("defence_from", sa.Date(), nullable=True))
    op.add_column("list_entries", sa.Column("defence_days", sa.Integer(), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT object_id, details FROM audit_entries WHERE action = 'list_entry.notify' "
                                "AND object_type = 'list_entry' AND outcome = 'ok' ORDER BY id")).all()
    counted: dict[int, tuple[date, int]] = {}
    for object_id, details in rows:
        try:
            d = details if isinstance(details, dict) else json.loads(details)
            counted[int(object_id)] = (date.fromisoformat(d["notified_on"]), int(d["working_days"]))
        except (KeyError, TypeError, ValueError):
            continue
    for entry_id, (day, days) in counted.items():
        conn.execute(sa.text("UPDATE list_entries SET defence_from = :day, defence_days = :days WHERE id = :id"),
                     {"day": day, "days": days, "id": entry_id})


def downgrade() -> None:
    with op.batch_alter_table("list_entries") as batch:
        batch.drop_column("defence_days")
        batch.drop_column("defence_from")
