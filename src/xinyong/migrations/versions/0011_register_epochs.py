"""register_epochs: from when refused checks are signed

From this version every refused check (an invalid ID number, an unknown scenario) is signed like an
answer, and reading a check back compares the register's columns with the signed answer. Refusals
registered before the upgrade have no signature by design; this table records the moment (the
upgrade's, in milliseconds, as a check id's first 12 hex digits count time) so that they read back
as "registered before refusals were signed" (``verified: null``) and an unsigned refusal after it
as altered (``verified: false``).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "register_epochs",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("since_ms", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    )
    op.bulk_insert(table, [{"name": "refusals_signed", "since_ms": time.time_ns() // 1_000_000}])


def downgrade() -> None:
    op.drop_table("register_epochs")
