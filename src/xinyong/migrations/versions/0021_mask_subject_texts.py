"""mask_subject_texts: ID numbers in key-group memberships' and adult students' texts, masked where stored

A membership's qualification number and employer, and an enrolment's school and student number, were
stored and shown (``GET /api/v1/subjects/{id}``, to every department) as sent: a qualification number
that is the person's ID number (a driving licence's is), or a national student number (全国学籍号, "G"
and the ID number), was an ID number in the clear. ``subjects.service`` now refuses such an identifier
(``contains_id_number``) and masks any ID number in the names (``privacy.masking.mask_id_numbers_in``);
rows written before hold them masked here the same way (an identifier already stored cannot be refused:
it is masked). Only values that change are rewritten.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

_COLUMNS = {"subject_group_memberships": ("qualification_no", "employer"),
            "student_statuses": ("school", "student_no")}


def upgrade() -> None:
    from xinyong.privacy.masking import mask_id_numbers_in

    conn = op.get_bind()
    for table, columns in _COLUMNS.items():
        t = sa.table(table, sa.column("id", sa.BigInteger()), *(sa.column(c, sa.String()) for c in columns))
        # only a value of 17 characters or more can hold an ID number (rows read in batches)
        holds = sa.or_(*(t.c[c].like("%" + "_" * 17 + "%") for c in columns))
        last = 0
        while True:
            rows = conn.execute(sa.select(t.c.id, *(t.c[c] for c in columns))
                                .where(t.c.id > last, holds).order_by(t.c.id).limit(1000)).all()
            if not rows:
                break
            for row in rows:
                changes = {c: mask_id_numbers_in(v) for c, v in zip(columns, row[1:], strict=True)
                           if v is not None and mask_id_numbers_in(v) != v}
                if changes:
                    conn.execute(sa.update(t).where(t.c.id == row[0]).values(**changes))
            last = rows[-1][0]


def downgrade() -> None:
    pass  # masked numbers are not brought back
