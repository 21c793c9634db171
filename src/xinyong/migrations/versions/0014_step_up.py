"""step_up: when a session last proved its user's password

An administrative change (users, departments, API keys, the catalog, rulesets, measures, the holiday
table) needs a password entered in the last minutes (step-up authentication, ASVS level 3): the
session keeps when its user last proved it, at login or at the step-up. Sessions started before this
version count from their start.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xinyong.db

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("web_sessions", sa.Column("authenticated_at", xinyong.db.UTCDateTime(timezone=True), nullable=True))
    op.execute("UPDATE web_sessions SET authenticated_at = created_at")


def downgrade() -> None:
    op.drop_column("web_sessions", "authenticated_at")
