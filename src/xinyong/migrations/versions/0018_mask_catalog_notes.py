"""mask_catalog_notes: ID numbers written in catalog items' change notes, masked where they are stored

Since e29112c a catalog item version's change note is stored with any ID number written in it masked
(``120101********1234``, ``privacy.masking.mask_id_numbers_in``, as ``catalog.service.update_item``
does): the note is shown in the item's history in the admin console and by the API. Versions saved
before it may hold a number in the clear and were shown as stored; they are masked here the same way,
as 0017 masks the scoring rulesets' notes. Only notes that change are rewritten.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    from xinyong.privacy.masking import mask_id_numbers_in

    conn = op.get_bind()
    t = sa.table("catalog_items", sa.column("id", sa.Integer()), sa.column("change_note", sa.Text()))
    # an item is edited by hand, a few versions a year: every note is read at once
    for row_id, note in conn.execute(sa.select(t.c.id, t.c.change_note).where(t.c.change_note.is_not(None))).all():
        masked = mask_id_numbers_in(note)
        if masked != note:
            conn.execute(sa.update(t).where(t.c.id == row_id).values(change_note=masked))


def downgrade() -> None:
    pass  # masked numbers are not brought back
