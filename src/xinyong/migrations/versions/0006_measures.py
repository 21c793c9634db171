"""measures

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xinyong.db

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('check_scenarios',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name_zh', sa.String(length=128), nullable=False),
    sa.Column('name_en', sa.String(length=128), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', xinyong.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_check_scenarios')),
    sa.UniqueConstraint('code', name=op.f('uq_check_scenarios_code'))
    )
    op.create_table('measure_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('object_type', sa.String(length=16), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('changed_by', sa.String(length=128), nullable=True),
    sa.Column('changed_at', xinyong.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_measure_changes'))
    )
    with op.batch_alter_table('measure_changes', schema=None) as batch_op:
        batch_op.create_index('ix_measure_changes_code', ['object_type', 'code', 'version'], unique=False)

    op.create_table('measures',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name_zh', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('applies_to', sa.JSON(), nullable=False),
    sa.Column('scenarios', sa.JSON(), nullable=False),
    sa.Column('department', sa.String(length=200), nullable=False),
    sa.Column('basis', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', xinyong.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_measures')),
    sa.UniqueConstraint('code', name=op.f('uq_measures_code'))
    )
    op.create_table('checks',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('check_id', sa.String(length=32), nullable=False),
    sa.Column('checked_at', xinyong.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('actor_type', sa.String(length=16), nullable=False),
    sa.Column('actor_id', sa.String(length=64), nullable=True),
    sa.Column('actor_label', sa.String(length=128), nullable=True),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('scenario', sa.String(length=64), nullable=False),
    sa.Column('subject_bidx', sa.String(length=64), nullable=True),
    sa.Column('subject_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('refusal', sa.String(length=32), nullable=True),
    sa.Column('grade', sa.String(length=4), nullable=True),
    sa.Column('measures', sa.JSON(), nullable=True),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('receipt', sa.Text(), nullable=True),
    sa.Column('job_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_checks_department_id_departments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checks')),
    sa.UniqueConstraint('check_id', name=op.f('uq_checks_check_id'))
    )
    with op.batch_alter_table('checks', schema=None) as batch_op:
        batch_op.create_index('ix_checks_dept', ['department_id', 'id'], unique=False)
        batch_op.create_index('ix_checks_job', ['job_id'], unique=False)
        batch_op.create_index('ix_checks_subject', ['subject_bidx'], unique=False)

    op.create_table('compare_jobs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('scenario', sa.String(length=64), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('encoding', sa.String(length=16), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('rows_total', sa.Integer(), nullable=True),
    sa.Column('rows_done', sa.Integer(), nullable=False),
    sa.Column('matched', sa.Integer(), nullable=False),
    sa.Column('unknown', sa.Integer(), nullable=False),
    sa.Column('invalid', sa.Integer(), nullable=False),
    sa.Column('error_code', sa.String(length=32), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('actor_type', sa.String(length=16), nullable=False),
    sa.Column('actor_id', sa.String(length=64), nullable=True),
    sa.Column('created_by', sa.String(length=128), nullable=True),
    sa.Column('runner', sa.String(length=32), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', xinyong.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', xinyong.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', xinyong.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', xinyong.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_compare_jobs_department_id_departments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_compare_jobs'))
    )
    with op.batch_alter_table('compare_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_compare_jobs_dept', ['department_id', 'id'], unique=False)

    op.create_table('check_feedback',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('check_id', sa.String(length=32), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('measure', sa.String(length=64), nullable=False),
    sa.Column('applied', sa.Boolean(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('actor_label', sa.String(length=128), nullable=True),
    sa.Column('created_at', xinyong.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['check_id'], ['checks.check_id'], name=op.f('fk_check_feedback_check_id_checks')),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_check_feedback_department_id_departments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_check_feedback'))
    )
    with op.batch_alter_table('check_feedback', schema=None) as batch_op:
        batch_op.create_index('ix_check_feedback_check', ['check_id'], unique=False)
        batch_op.create_index('ix_check_feedback_dept', ['department_id', 'measure'], unique=False)

    op.create_table('compare_files',
    sa.Column('job_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['compare_jobs.id'], name=op.f('fk_compare_files_job_id_compare_jobs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('job_id', 'kind', name=op.f('pk_compare_files'))
    )


def downgrade() -> None:
    op.drop_table('compare_files')
    with op.batch_alter_table('check_feedback', schema=None) as batch_op:
        batch_op.drop_index('ix_check_feedback_dept')
        batch_op.drop_index('ix_check_feedback_check')

    op.drop_table('check_feedback')
    with op.batch_alter_table('compare_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_compare_jobs_dept')

    op.drop_table('compare_jobs')
    with op.batch_alter_table('checks', schema=None) as batch_op:
        batch_op.drop_index('ix_checks_subject')
        batch_op.drop_index('ix_checks_job')
        batch_op.drop_index('ix_checks_dept')

    op.drop_table('checks')
    op.drop_table('measures')
    with op.batch_alter_table('measure_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_measure_changes_code')

    op.drop_table('measure_changes')
    op.drop_table('check_scenarios')
