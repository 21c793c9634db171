"""calendar_days: the holiday table an administrator maintains

China's official calendar (statutory holidays and the weekends adjusted to working days) comes from
``chinesecalendar`` for the years it covers; the State Council publishes each year's schedule late
in the year before, often after the library's last release. A row here marks one day a holiday or
a working day: a year with rows is covered by them (and a row corrects the library for a year it
covers). See ``xinyong.workdays``.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xinyong.db

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calendar_days",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("name", sa.String(64), nullable=False, server_default=""),
        sa.Column("updated_at", xinyong.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.CheckConstraint("kind IN ('holiday', 'workday')", name="ck_calendar_days_kind"),
    )


def downgrade() -> None:
    op.drop_table("calendar_days")
