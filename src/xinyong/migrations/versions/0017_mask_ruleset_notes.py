"""mask_ruleset_notes: ID numbers written in scoring rulesets' notes, masked where they are stored

Since a3f7b21 a ruleset version's note is stored with any ID number written in it masked
(``120101********1234``, ``privacy.masking.mask_id_numbers_in``, as ``scoring.service.save_ruleset``
does): the note is shown on the rulesets page and by the API. Versions saved before it may hold a
number in the clear and were shown as stored; they are masked here the same way. Only notes that
change are rewritten; the audit entries of those saves masked their copy of the note already.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    from xinyong.privacy.masking import mask_id_numbers_in

    conn = op.get_bind()
    t = sa.table("scoring_rulesets", sa.column("version", sa.Integer()), sa.column("note", sa.Text()))
    # a ruleset is saved by hand, a few a year: every note is read at once
    for version, note in conn.execute(sa.select(t.c.version, t.c.note).where(t.c.note.is_not(None))).all():
        masked = mask_id_numbers_in(note)
        if masked != note:
            conn.execute(sa.update(t).where(t.c.version == version).values(note=masked))


def downgrade() -> None:
    pass  # masked numbers are not brought back
