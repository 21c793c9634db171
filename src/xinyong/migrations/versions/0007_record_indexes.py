"""records: indexes that grow at their right edge

A department's records newest first (with or without an item filter) replace the indexes ordered
by dates (``status, display_until`` and ``department_id, item_code, decided_at``): each pushed
record took a random leaf page in those, a third of SQLite's insert cost; the daily ``maintain``
walks the table by id instead (docs/architecture.md, "Ingestion performance").

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_index('ix_records_status_display')
        batch_op.drop_index('ix_records_dept_item')
        batch_op.create_index('ix_records_dept_newest', ['department_id', 'id'], unique=False)
        batch_op.create_index('ix_records_dept_item_newest', ['department_id', 'item_code', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_index('ix_records_dept_item_newest')
        batch_op.drop_index('ix_records_dept_newest')
        batch_op.create_index('ix_records_dept_item', ['department_id', 'item_code', 'decided_at'], unique=False)
        batch_op.create_index('ix_records_status_display', ['status', 'display_until'], unique=False)
