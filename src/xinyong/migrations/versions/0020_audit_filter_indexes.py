"""audit_entries: indexes for the audit log's filters (the ``/audit`` page and ``GET /api/v1/audit/entries``)

Both list entries newest first (``ORDER BY id DESC LIMIT n``) filtered by time (``occurred_at``), actor
(``actor_label = x OR actor_id = x``) and action; with no index on those columns each filtered page
walked the table backwards until it had found its entries: on a year's log (10^6 entries here) a
week's range took 70-140 ms and a rare actor or action the whole table. Now:

* ``occurred_at`` — a date range is a range scan (it grows at its right edge, as entries come);
* ``actor_label, id`` and ``actor_id, id`` — one for each side of the actor filter's ``OR`` (SQLite's
  multi-index OR, PostgreSQL's bitmap OR), each already in id order for one actor;
  ``actor_id, id`` replaces ``actor_type, actor_id``, which no query used (none filters by the
  actor's type first);
* ``action, id`` — one action's entries newest first (``records.push``, ``audit.read`` …).

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_audit_entries_actor', table_name='audit_entries')
    op.create_index('ix_audit_entries_occurred_at', 'audit_entries', ['occurred_at'], unique=False)
    op.create_index('ix_audit_entries_actor_label', 'audit_entries', ['actor_label', 'id'], unique=False)
    op.create_index('ix_audit_entries_actor_id', 'audit_entries', ['actor_id', 'id'], unique=False)
    op.create_index('ix_audit_entries_action', 'audit_entries', ['action', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_audit_entries_action', table_name='audit_entries')
    op.drop_index('ix_audit_entries_actor_id', table_name='audit_entries')
    op.drop_index('ix_audit_entries_actor_label', table_name='audit_entries')
    op.drop_index('ix_audit_entries_occurred_at', table_name='audit_entries')
    op.create_index('ix_audit_entries_actor', 'audit_entries', ['actor_type', 'actor_id'], unique=False)
