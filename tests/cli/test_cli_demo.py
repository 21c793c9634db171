"""xinyong demo and demo.build_demo."""

from __future__ import annotations

import re
import stat
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from xinyong import migrate
from xinyong.auth.models import ApiKey, Department, User
from xinyong.auth.service import authenticate, principal_for_api_key
from xinyong.db import Database
from xinyong.demo import DEMO_USERS, HEPING_DEPARTMENTS, UNCHANGED, build_demo
from xinyong.privacy import identity
from xinyong.privacy.keys import KeyRing
from xinyong.privacy.vault import Vault
from xinyong.subjects.groups import KEY_GROUPS
from xinyong.subjects.models import GroupMembership, StudentStatus, Subject
from xinyong.subjects.service import age_on

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from conftest import CliEnv


def test_demo_builds_the_district_and_no_raw_id_number_reaches_the_database_file(cli: CliEnv) -> None:
    started = time.perf_counter()
    result = cli.ok("demo", "--no-serve", "--people", "200")
    assert time.perf_counter() - started < 30
    out = result.stdout
    assert "200 citizens" in out
    assert cli.count("subjects") == 200
    assert cli.count("departments") == len(HEPING_DEPARTMENTS) + 1
    for username, role, _, _ in DEMO_USERS:
        assert re.search(rf"^{username}\s+\S+\s+{role}\b", out, re.M), username
    key = next(line for line in out.splitlines() if line.startswith("xy_"))
    creds = cli.key_file.parent / "demo-credentials.txt"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600 and key in creds.read_text()
    assert "audit log sealed" in out and cli.count("audit_entries", "seq IS NULL") == 0
    cli.ok("audit", "verify")

    db = Database(cli.url)
    try:
        with db.session() as s:
            principal, _ = principal_for_api_key(s, secret=key)
            assert principal is not None and principal.label.startswith("scjg:")
            password = re.search(r"^citizen\s+(\S+)\s+citizen", out, re.M).group(1)  # type: ignore[union-attr]
            citizen = authenticate(s, username="citizen", password=password)
            assert citizen.subject_id is not None
    finally:
        db.dispose()

    # Every demo person's ID number is valid, in 和平区, and appears nowhere in the files (WAL included).
    vault = cli.vault()
    rows = cli.sql("SELECT id_bidx, id_cipher, key_id FROM subjects")
    numbers = [vault.reveal_id(bidx, ic, kid) for bidx, ic, kid in rows]
    assert len(set(numbers)) == 200
    assert all(identity.check(n).region_code == "120101" for n in numbers)
    blobs = b"".join(p.read_bytes() for p in (cli.db_path, Path(f"{cli.db_path}-wal")) if p.exists())
    for number in numbers:
        assert number.encode() not in blobs
        assert number not in out
    # Nor in the audit log or the credentials file.
    assert not any(n in creds.read_text() for n in numbers)


def test_demo_reuses_existing_data_and_reset_rebuilds(cli: CliEnv) -> None:
    cli.ok("demo", "--no-serve", "--people", "20")
    again = cli.ok("demo", "--no-serve", "--people", "20")
    assert "already holds data" in again.stdout and "demo-credentials.txt" in again.stdout
    assert cli.count("subjects") == 20
    rebuilt = cli.ok("demo", "--no-serve", "--people", "30", "--reset")
    assert "removed the previous demo" in rebuilt.stdout
    assert cli.count("subjects") == 30
    cli.ok("audit", "verify")  # old checkpoints went with the old database


def test_demo_after_init_keeps_the_existing_admin(initialised: CliEnv) -> None:
    cli = initialised
    out = cli.ok("demo", "--no-serve", "--people", "10").stdout
    assert re.search(rf"^admin\s+{re.escape(UNCHANGED)}", out, re.M)
    assert cli.count("users", "username = 'admin'") == 1


def test_build_demo(session: Session, vault: Vault) -> None:
    today = date(2026, 6, 1)
    info = build_demo(session, vault=vault, people=120, seed=7, today=today)
    assert info.subjects == 120 and len(info.subject_ids) == 120
    assert session.scalar(select(func.count()).select_from(Subject)) == 120
    codes = set(session.scalars(select(Department.code)))
    assert {code for code, _, _ in HEPING_DEPARTMENTS} <= codes
    fgw = session.scalar(select(Department).where(Department.code == "fgw"))
    assert fgw is not None and fgw.name == "区发展改革委" and fgw.name_en
    roles = {u.role for u in session.scalars(select(User))}
    assert roles == {"admin", "officer", "institution", "citizen", "auditor"}
    assert session.scalar(select(func.count()).select_from(ApiKey)) == 1
    principal, _ = principal_for_api_key(session, secret=info.api_key)
    assert principal is not None
    memberships = list(session.scalars(select(GroupMembership)))
    assert info.memberships == len(memberships) > 0
    assert all(m.group_code in KEY_GROUPS and m.department_id for m in memberships)
    students = list(session.scalars(select(StudentStatus)))
    assert info.students == len(students) > 0
    for st in students:
        assert age_on(session.get_one(Subject, st.subject_id), today, vault=vault) >= 18
    assert info.api_key not in repr(info)  # secrets stay out of reprs


def test_build_demo_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    vault = Vault(KeyRing.generate())

    def people(name: str) -> set[str]:
        url = f"sqlite:///{tmp_path / name}"
        migrate.upgrade(url)
        db = Database(url)
        try:
            with db.session() as s:
                build_demo(s, vault=vault, people=30, seed=99, today=date(2026, 1, 1))
            with db.session() as s:
                return set(s.scalars(select(Subject.id_bidx)))
        finally:
            db.dispose()

    assert people("a.db") == people("b.db")
