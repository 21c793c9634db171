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



def downgrade() -> None:
    op.drop_table('subject_status')

