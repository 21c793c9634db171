"""import_notes: what an import job's file held that was not imported, said with the job

A bulk file may hold columns that are accepted and ignored (序号, 备注: ``imports.parsers.IGNORED_HEADERS``):
their content is neither imported nor stored, and the job says which they were. ``import_jobs.notes``
keeps those notes (a JSON list of ``{"code", "message", "columns"}``), shown with the job by the API
(``notes``, ``ignored_columns``), the workspace page and ``xinyong import``. Jobs before this version
have none.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("import_jobs", sa.Column("notes", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("import_jobs") as batch:
        batch.drop_column("notes")
