"""records, checks: no foreign keys on the department and the catalog item version

PostgreSQL checks a foreign key for every inserted row with a query of its own that locks the
referenced row: 10-15 µs a key and a row on the benchmark machine, and the three keys of
``records`` took 35 of the 45 ms that 1,000 records' insert cost the server (docs/architecture.md,
"Ingestion performance"). The department and the item version are never deleted (departments are
deactivated, catalog versions kept) and ingestion and the check API take them from the caller's
key and the catalog; ``records.subject_id`` keeps its key. On SQLite the tables are rebuilt
(batch mode copies every row): expect the upgrade to take a while on a large database.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('fk_records_department_id_departments'), type_='foreignkey')
        batch_op.drop_constraint(op.f('fk_records_item_id_catalog_items'), type_='foreignkey')
    with op.batch_alter_table('checks', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('fk_checks_department_id_departments'), type_='foreignkey')


def downgrade() -> None:
    with op.batch_alter_table('checks', schema=None) as batch_op:
        batch_op.create_foreign_key(op.f('fk_checks_department_id_departments'), 'departments', ['department_id'],
                                    ['id'])
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.create_foreign_key(op.f('fk_records_item_id_catalog_items'), 'catalog_items', ['item_id'], ['id'])
        batch_op.create_foreign_key(op.f('fk_records_department_id_departments'), 'departments', ['department_id'],
                                    ['id'])
