"""subjects_minimised: no birth date, gender or region code stored beside the encrypted ID number

``subjects`` kept ``birth_date``, ``gender`` and ``region_code`` in the clear beside ``id_cipher``
and its blind index. They are 15 of the number's 18 digits: with them a copy of the database
narrowed each citizen's number to ~500 candidates (three sequence digits, the gender's parity
known, the check character computed), which undid the encryption at rest (docs/security.md).
Nothing queried by them; they are now derived from the revealed number where they are shown
(``privacy.identity.facts_of``, ``subjects.service.view``). The three columns and the region's
index are dropped.

Both engines drop the columns in place (``ALTER TABLE … DROP COLUMN``; SQLite 3.35 or later),
without batch mode's copy of the table: quicker on a large table (when written, that copy also failed
on SQLite with foreign keys on as soon as a row referred to a person; ``env.py`` now turns
enforcement off while migrations run).

Downgrade: the columns come back and are filled by decrypting every ID number, which needs the
key file — the one passed by the caller (``migrate.downgrade(key_ring=…)``) or the configured one
(``XINYONG_KEY_FILE``). If there are subjects and no key can be had, the downgrade stops with a
message and changes nothing. They come back NOT NULL on PostgreSQL, as before; on SQLite they
stay nullable (adding NOT NULL to a filled column there means copying the table, see above), all
filled, and the earlier version always writes them.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

_BATCH = 1000


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        import sqlite3

        if sqlite3.sqlite_version_info < (3, 35, 0):
            raise RuntimeError(
                f"迁移 0019 需要 SQLite 3.35 或更新版本（当前 {sqlite3.sqlite_version}），未做任何更改 / "
                f"migration 0019 needs SQLite 3.35 or newer (this is {sqlite3.sqlite_version}); nothing was changed")
    with op.batch_alter_table("subjects", recreate="never") as batch_op:
        batch_op.drop_index(batch_op.f("ix_subjects_region_code"))
        batch_op.drop_column("region_code")
        batch_op.drop_column("gender")
        batch_op.drop_column("birth_date")


def _vault():  # type: ignore[no-untyped-def]
    """The vault to decrypt the ID numbers with, or a clear refusal (nothing changed yet)."""
    from xinyong.privacy.keys import KeyFileError, KeyRing
    from xinyong.privacy.vault import Vault

    ring = context.config.attributes.get("key_ring")
    if ring is None:
        from xinyong.config import Settings

        path = Settings().key_file
        try:
            ring = KeyRing.load(path)
        except (KeyFileError, OSError) as exc:
            raise RuntimeError(
                f"降级到 0018 需要用密钥文件解密身份证号码以恢复 subjects 表的出生日期、性别和地区代码，"
                f"但无法读取密钥文件 {path}（{exc}）；请设置 XINYONG_KEY_FILE / downgrading to 0018 refills "
                f"subjects.birth_date, gender and region_code by decrypting the ID numbers, but the key file "
                f"{path} cannot be read ({exc}): set XINYONG_KEY_FILE") from None
    return Vault(ring)


def downgrade() -> None:
    from xinyong.privacy import identity
    from xinyong.privacy.crypto import DecryptionError

    conn = op.get_bind()
    t = sa.table("subjects", sa.column("id", sa.Integer()), sa.column("id_bidx", sa.String()),
                 sa.column("id_cipher", sa.LargeBinary()), sa.column("key_id", sa.String()),
                 sa.column("birth_date", sa.Date()), sa.column("gender", sa.String()),
                 sa.column("region_code", sa.String()))
    vault = _vault() if conn.execute(sa.select(sa.func.count()).select_from(t)).scalar() else None
    with op.batch_alter_table("subjects", recreate="never") as batch_op:
        batch_op.add_column(sa.Column("birth_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("gender", sa.String(length=1), nullable=True))
        batch_op.add_column(sa.Column("region_code", sa.String(length=6), nullable=True))
    if vault is not None:
        fill = (sa.update(t).where(t.c.id == sa.bindparam("_id"))
                .values(birth_date=sa.bindparam("_born"), gender=sa.bindparam("_gender"),
                        region_code=sa.bindparam("_region")))
        after = 0
        while True:
            rows = conn.execute(sa.select(t.c.id, t.c.id_bidx, t.c.id_cipher, t.c.key_id)
                                .where(t.c.id > after).order_by(t.c.id).limit(_BATCH)).all()
            if not rows:
                break
            params = []
            for sid, bidx, cipher, kid in rows:
                try:
                    facts = identity.facts_of(vault.reveal_id(bidx, cipher, kid))  # the number goes no further
                except (DecryptionError, identity.InvalidIdNumber) as exc:
                    raise RuntimeError(
                        f"无法解密信用主体 {sid} 的身份证号码（{exc}），降级未执行；请使用加密它的密钥文件 / "
                        f"the ID number of subject {sid} cannot be decrypted ({exc}); nothing was downgraded: "
                        f"use the key file it was encrypted with") from None
                params.append({"_id": sid, "_born": facts.birth_date, "_gender": facts.gender,
                               "_region": facts.region_code})
            conn.execute(fill, params)
            after = rows[-1][0]
    with op.batch_alter_table("subjects", recreate="never") as batch_op:
        if conn.dialect.name != "sqlite":
            for name in ("birth_date", "gender", "region_code"):
                batch_op.alter_column(name, nullable=False)
        batch_op.create_index(batch_op.f("ix_subjects_region_code"), ["region_code"], unique=False)
