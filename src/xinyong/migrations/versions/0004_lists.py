"""lists

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xinyong.db

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

_OPEN_DECISION = "status IN ('proposed', 'notified', 'listed') AND record_id IS NULL"
_OPEN_RECORD = "status IN ('proposed', 'notified', 'listed') AND record_id IS NOT NULL"


def upgrade() -> None:
    op.create_table('list_kinds',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name_zh', sa.String(length=128), nullable=False),
    sa.Column('name_en', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('public', sa.Boolean(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', xinyong.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_list_kinds')),
    sa.UniqueConstraint('code', name=op.f('uq_list_kinds_code'))
    )
    op.create_table('list_entries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('list_code', sa.String(length=32), nullable=False),
    sa.Column('subject_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('category', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('legal_basis', sa.Text(), nullable=True),
    sa.Column('record_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('proposed_at', xinyong.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('proposed_by', sa.String(length=128), nullable=True),
    sa.Column('notified_at', xinyong.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('defence_deadline', sa.Date(), nullable=True),
    sa.Column('defence', sa.Text(), nullable=True),
    sa.Column('defence_at', xinyong.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('listed_on', sa.Date(), nullable=True),
    sa.Column('valid_until', sa.Date(), nullable=True),
    sa.Column('decided_by', sa.String(length=128), nullable=True),
    sa.Column('removed_at', xinyong.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('removal_kind', sa.String(length=16), nullable=True),
    sa.Column('removal_reason', sa.Text(), nullable=True),
    sa.Column('updated_at', xinyong.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('notified_by', sa.String(length=128), nullable=True),
    sa.Column('defence_by', sa.String(length=128), nullable=True),
    sa.Column('decided_at', xinyong.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decision_reason', sa.Text(), nullable=True),
    sa.Column('removed_by', sa.String(length=128), nullable=True),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_list_entries_department_id_departments')),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], name=op.f('fk_list_entries_record_id_records')),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_list_entries_subject_id_subjects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_list_entries'))
    )
    with op.batch_alter_table('list_entries', schema=None) as batch_op:
        batch_op.create_index('ix_list_entries_list', ['list_code', 'status'], unique=False)
        batch_op.create_index('ix_list_entries_subject', ['subject_id', 'status'], unique=False)
        batch_op.create_index('uq_list_entries_open', ['list_code', 'subject_id'], unique=True, sqlite_where=sa.text(_OPEN_DECISION), postgresql_where=sa.text(_OPEN_DECISION))
        batch_op.create_index('uq_list_entries_open_record', ['list_code', 'record_id'], unique=True, sqlite_where=sa.text(_OPEN_RECORD), postgresql_where=sa.text(_OPEN_RECORD))

    op.create_table('list_kind_versions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('created_at', xinyong.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=True),
    sa.Column('change_note', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_list_kind_versions')),
    sa.UniqueConstraint('code', 'version', name=op.f('uq_list_kind_versions_code_version'))
    )

    # ### end Alembic commands ###



def downgrade() -> None:
    op.drop_table('list_kind_versions')
    with op.batch_alter_table('list_entries', schema=None) as batch_op:
        batch_op.drop_index('uq_list_entries_open_record', sqlite_where=sa.text(_OPEN_RECORD), postgresql_where=sa.text(_OPEN_RECORD))
        batch_op.drop_index('uq_list_entries_open', sqlite_where=sa.text(_OPEN_DECISION), postgresql_where=sa.text(_OPEN_DECISION))
        batch_op.drop_index('ix_list_entries_subject')
        batch_op.drop_index('ix_list_entries_list')

    op.drop_table('list_entries')
    op.drop_table('list_kinds')

