"""citizen_binding: a citizen account is bound to its ID number, known to the platform or not yet

Issue 2: ``xinyong user add USERNAME --role citizen --id-number-stdin --password-stdin`` binds a
citizen account to its ID number. An account could be bound only to a credit subject the platform
already held, so a person with no record yet could get no account (the command asked for a name).
``users.id_bidx`` (the number's blind index, unique: one account a person) now holds the binding;
``users.subject_id`` links it to the subject once the platform registers the person
(``users.id_masked``: the masked number to show until then). Existing accounts take their subject's
blind index.

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("id_bidx", sa.String(length=64), nullable=True))
    op.add_column("users", sa.Column("id_masked", sa.String(length=32), nullable=True))
    op.execute("UPDATE users SET id_bidx = (SELECT subjects.id_bidx FROM subjects WHERE subjects.id = users.subject_id) "
               "WHERE subject_id IS NOT NULL")
    op.create_index("ix_users_id_bidx", "users", ["id_bidx"], unique=True)


def downgrade() -> None:
    # An account bound to a person the platform has registered since is linked to them lazily (at its
    # next sign-in; each request reads the link meanwhile): linked here, before the binding goes, or the
    # older release would find no person for it and the upgrade back could not link it again. (An
    # account bound to a number the platform still does not hold keeps no binding below 0024.)
    op.execute("UPDATE users SET subject_id = (SELECT subjects.id FROM subjects WHERE subjects.id_bidx = users.id_bidx) "
               "WHERE subject_id IS NULL AND id_bidx IS NOT NULL")
    op.drop_index("ix_users_id_bidx", table_name="users")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("id_masked")
        batch.drop_column("id_bidx")
