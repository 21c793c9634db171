"""mask_record_fields: ID numbers quoted in records' text fields, masked where they are stored

Since this version ingestion keeps a valid ID number quoted in a record's text field masked
(``120101********1234``, ``privacy.masking.mask_quoted_id_numbers``): text fields are not encrypted.
Records and their revisions stored before it are masked here the same way, and their content hash
counted again from the masked fields (so that the same record sent again is ``unchanged``, not a new
revision holding the number again). Only rows whose fields hold 17 digits in a row are rewritten;
decision numbers and other 18-digit runs that are no valid ID number stay as they are.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-28
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

_BATCH = 2000


def _masked(fields: Any) -> dict[str, Any] | None:
    """The fields with their quoted ID numbers masked, or None when nothing changes."""
    from xinyong.privacy.masking import mask_id_numbers_in_values

    value = fields if isinstance(fields, dict) else json.loads(fields)
    if not isinstance(value, dict):
        return None
    masked = mask_id_numbers_in_values(value)
    return masked if masked != value else None


def _rewrite(conn: sa.Connection, table: str, code_sql: str) -> None:
    from xinyong.records.service import content_hash

    fields_col = sa.column("fields", sa.JSON())
    t = sa.table(table, sa.column("id", sa.BigInteger()), fields_col, sa.column("content_hash", sa.String()))
    last = 0
    while True:
        rows = conn.execute(sa.text(
            f"SELECT r.id, r.fields, {code_sql}, r.subject_id, r.severity, r.decided_at FROM {table} r "  # noqa: S608
            f"WHERE r.id > :last ORDER BY r.id LIMIT {_BATCH}"), {"last": last}).all()
        if not rows:
            return
        for rid, fields, code, subject_id, severity, decided_at in rows:
            masked = _masked(fields)
            if masked is None:
                continue
            if isinstance(decided_at, str):  # SQLite reads a DATE as its text
                decided_at = date.fromisoformat(decided_at)
            conn.execute(sa.update(t).where(t.c.id == rid).values(
                fields=masked, content_hash=content_hash(str(code), subject_id, severity, decided_at, masked)))
        last = rows[-1][0]


def upgrade() -> None:
    conn = op.get_bind()
    _rewrite(conn, "records", "r.item_code")
    _rewrite(conn, "record_revisions",
             "(SELECT c.code FROM catalog_items c WHERE c.id = r.item_id)")


def downgrade() -> None:
    pass  # masked numbers are not brought back
