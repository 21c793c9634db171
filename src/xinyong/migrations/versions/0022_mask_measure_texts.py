"""mask_measure_texts: ID numbers in the measures' and scenarios' texts and change reasons, masked

A measure's names, department and legal basis, a scenario's names, and the reason given for each
change were stored as typed: the basis goes into every check's answer, and the history (with the
reasons) is read by every department. ``measures.service`` now masks any ID number in them
(``privacy.masking.mask_id_numbers_in``), as the catalog's (0018) and the rulesets' (0017) notes;
definitions and history saved before are masked here the same way. Only values that change are
rewritten. Checks already answered keep their answers: they are signed (the receipt).

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-28
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

_TEXTS = {"measures": ("name_zh", "name_en", "department", "basis"), "check_scenarios": ("name_zh", "name_en")}


def upgrade() -> None:
    from xinyong.privacy.masking import mask_id_numbers_in

    def masked(value: Any) -> Any:
        if isinstance(value, str):
            return mask_id_numbers_in(value)
        if isinstance(value, dict):
            return {k: masked(v) for k, v in value.items()}
        if isinstance(value, list):
            return [masked(v) for v in value]
        return value

    conn = op.get_bind()
    # the definitions and their history are edited by hand (tens of rows): every row is read at once
    for table, columns in _TEXTS.items():
        t = sa.table(table, sa.column("id", sa.Integer()), *(sa.column(c, sa.Text()) for c in columns))
        for row in conn.execute(sa.select(t.c.id, *(t.c[c] for c in columns))).all():
            changes = {c: masked(v) for c, v in zip(columns, row[1:], strict=True) if masked(v) != v}
            if changes:
                conn.execute(sa.update(t).where(t.c.id == row[0]).values(**changes))
    t = sa.table("measure_changes", sa.column("id", sa.BigInteger()), sa.column("data", sa.JSON()),
                 sa.column("reason", sa.Text()))
    for row_id, data, reason in conn.execute(sa.select(t.c.id, t.c.data, t.c.reason)).all():
        changes = {k: masked(v) for k, v in (("data", data), ("reason", reason)) if masked(v) != v}
        if changes:
            conn.execute(sa.update(t).where(t.c.id == row_id).values(**changes))


def downgrade() -> None:
    pass  # masked numbers are not brought back
