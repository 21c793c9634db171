"""mask_ruleset_texts: ID numbers written in stored scoring rulesets' YAML text, masked

A scoring ruleset's YAML text is shown on the rulesets page and by ``GET /api/v1/scoring/rulesets``
to every scoring reader. It was stored as typed, so an ID number written in a comment stayed in the
clear; ``scoring.service.save_ruleset`` now masks any ID number in it
(``privacy.masking.mask_id_numbers_in``), as it masks the note and as the catalog's texts are (0025).
Versions saved before are masked here the same way. The rules themselves (``scoring_rules``, the
``spec``) come from the validated text and hold no free text: unchanged. Only rows that change are
rewritten.

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade() -> None:
    from xinyong.privacy.masking import mask_id_numbers_in

    conn = op.get_bind()
    t = sa.table("scoring_rulesets", sa.column("version", sa.Integer()), sa.column("source", sa.Text()))
    # a ruleset is written by hand, a few versions a year: every version is read at once
    for version, source in conn.execute(sa.select(t.c.version, t.c.source)).all():
        if isinstance(source, str) and mask_id_numbers_in(source) != source:
            conn.execute(sa.update(t).where(t.c.version == version).values(source=mask_id_numbers_in(source)))


def downgrade() -> None:
    pass  # masked numbers are not brought back
