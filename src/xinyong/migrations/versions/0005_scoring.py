"""scoring

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xinyong.db

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('subject_status',
    sa.Column('subject_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('grade', sa.String(length=4), nullable=False),
    sa.Column('ruleset_version', sa.Integer(), nullable=False),
    sa.Column('lists', sa.JSON(), nullable=False),
    sa.Column('red', sa.Boolean(), nullable=False),
    sa.Column('dishonest', sa.Boolean(), nullable=False),
    sa.Column('clean_3y', sa.Boolean(), nullable=False),
    sa.Column('updated_at', xinyong.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_subject_status_subject_id_subjects')),
    sa.PrimaryKeyConstraint('subject_id', name=op.f('pk_subject_status'))
    )
    op.create_table('score_history',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('subject_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('grade', sa.String(length=4), nullable=False),
    sa.Column('previous_score', sa.Integer(), nullable=True),
    sa.Column('previous_grade', sa.String(length=4), nullable=True),
    sa.Column('ruleset_version', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('on_day', sa.Date(), nullable=False),
    sa.Column('changed_at', xinyong.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_score_history'))
    )
    with op.batch_alter_table('score_history', schema=None) as batch_op:
        batch_op.create_index('ix_score_history_subject', ['subject_id', 'id'], unique=False)

    op.create_table('scoring_rules',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('ruleset_version', sa.Integer(), nullable=False),
    sa.Column('item_code', sa.String(length=64), nullable=False),
    sa.Column('variant', sa.String(length=32), nullable=False),
    sa.Column('min_hours', sa.Float(), nullable=False),
    sa.Column('max_hours', sa.Float(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('window_months', sa.Integer(), nullable=False),
    sa.Column('mode', sa.String(length=8), nullable=False),
    sa.Column('doubles', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scoring_rules'))
    )
    with op.batch_alter_table('scoring_rules', schema=None) as batch_op:
        batch_op.create_index('ix_scoring_rules_match', ['ruleset_version', 'item_code', 'variant', 'min_hours'], unique=False)

    op.create_table('scoring_rulesets',
    sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('base', sa.Integer(), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('created_at', xinyong.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('version', name=op.f('pk_scoring_rulesets'))
    )
    op.create_table('scoring_runs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('on_day', sa.Date(), nullable=False),
    sa.Column('ruleset_version', sa.Integer(), nullable=False),
    sa.Column('subjects', sa.Integer(), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.Column('created_at', xinyong.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scoring_runs'))
    )


def downgrade() -> None:
    with op.batch_alter_table('score_history', schema=None) as batch_op:
        batch_op.drop_index('ix_score_history_subject')
    op.drop_table('score_history')
    with op.batch_alter_table('scoring_rules', schema=None) as batch_op:
        batch_op.drop_index('ix_scoring_rules_match')
    op.drop_table('scoring_rules')
    op.drop_table('scoring_rulesets')
    op.drop_table('scoring_runs')
    op.drop_table('subject_status')

