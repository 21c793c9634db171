"""subject_status: not "3 years without bad records" while on a dishonesty list

From this version a person listed for dishonesty (by decision: no bad record needed) is not clean
while listed (``lists.service.clean_stmt``, ``scoring.service._status_select``), so the measures
for clean people are not answered beside the punishments. The stored statuses computed by the
earlier rule are brought in line here: ``dishonest`` is the same test (listed now on a list of kind
``dishonesty``). No schema change.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text("UPDATE subject_status SET clean_3y = false WHERE dishonest = true AND clean_3y = true"))


def downgrade() -> None:
    pass  # the earlier rule's flags are recomputed by `xinyong rescore` on the older version
