"""session_idle: when a web session was last used, for the idle timeout

A browser session ended only when its lifetime (``XINYONG_SESSION_HOURS``, 8 h) ran out: a session
left open on a shared desk kept reading personal data all day. ``web_sessions.last_seen_at`` holds
when it was last used (written at most once a minute); a session idle longer than
``XINYONG_SESSION_IDLE_MINUTES`` (30) is refused, as an expired one (ASVS 3.3.2, level 2). Sessions
before this version have none: their last proof of the password (or their start) counts.

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xinyong.db

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("web_sessions", sa.Column("last_seen_at", xinyong.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("web_sessions") as batch:
        batch.drop_column("last_seen_at")
