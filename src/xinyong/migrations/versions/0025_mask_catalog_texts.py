"""mask_catalog_texts: ID numbers written in catalog items' names, legal basis and field texts, masked

An administrator's catalog item definition — its Chinese and English names, its legal basis, its
fields' Chinese names and its enum fields' labels — is shown to every department (pages, upload
templates, the API's catalog, which every role reads) and, the basis, with its records. These texts
were stored as typed; ``catalog.spec.parse_item`` now masks any ID number in them
(``privacy.masking.mask_id_numbers_in``), as the measures' texts (0022) and the item's change notes
(0018). Versions saved before are masked here the same way, in their columns and in their ``spec``.
Only rows that change are rewritten. (The list kinds' texts are masked the same way by
``lists.service.parse_kind``; they come from the shipped definitions only, which hold none.)

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-29
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    from xinyong.privacy.masking import mask_id_numbers_in

    def masked(value: Any) -> Any:
        return mask_id_numbers_in(value) if isinstance(value, str) else value

    def masked_spec(spec: Any) -> Any:
        if not isinstance(spec, dict):
            return spec
        out = {k: masked(v) if k in ("name", "name_en", "legal_basis") else v for k, v in spec.items()}
        if isinstance(spec.get("fields"), list):
            fields = []
            for f in spec["fields"]:
                if isinstance(f, dict):
                    f = {**f, "name_zh": masked(f.get("name_zh"))} if "name_zh" in f else dict(f)
                    if isinstance(f.get("labels"), dict):
                        f["labels"] = {k: masked(v) for k, v in f["labels"].items()}
                fields.append(f)
            out["fields"] = fields
        return out

    conn = op.get_bind()
    t = sa.table("catalog_items", sa.column("id", sa.Integer()), sa.column("name", sa.String()),
                 sa.column("name_en", sa.String()), sa.column("legal_basis", sa.Text()), sa.column("spec", sa.JSON()))
    # an item is edited by hand, a few versions a year: every version is read at once
    for row_id, name, name_en, basis, spec in conn.execute(
            sa.select(t.c.id, t.c.name, t.c.name_en, t.c.legal_basis, t.c.spec)).all():
        changes = {c: masked(v) for c, v in (("name", name), ("name_en", name_en), ("legal_basis", basis))
                   if masked(v) != v}
        new_spec = masked_spec(spec)
        if new_spec != spec:
            changes["spec"] = new_spec
        if changes:
            conn.execute(sa.update(t).where(t.c.id == row_id).values(**changes))


def downgrade() -> None:
    pass  # masked numbers are not brought back
