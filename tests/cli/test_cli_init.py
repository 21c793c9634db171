"""xinyong init, db upgrade/current, serve's refusals."""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING

from xinyong.auth.service import authenticate
from xinyong.db import Database
from xinyong.privacy.keys import KeyRing

if TYPE_CHECKING:
    from conftest import CliEnv


def test_init_creates_keys_database_and_admin_with_a_generated_password(cli: CliEnv) -> None:
    result = cli.ok("init")
    assert stat.S_IMODE(cli.key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(cli.db_path.stat().st_mode) == 0o600  # a database file init created
    assert "administrator created" in result.stdout
    password = cli.last_line(result.stdout)  # printed once, alone on the last line
    assert len(password) >= 20
    db = Database(cli.url)
    try:
        with db.session() as s:
            user = authenticate(s, username="admin", password=password)
            assert user.role == "admin"
    finally:
        db.dispose()
    # Creating the admin was audited by the service.
    assert cli.count("audit_entries", "action = 'user.create'") == 1
    # The shipped catalog is loaded, once.
    items = cli.count("catalog_items")
    assert items > 0 and f"{items} items added" in result.stdout
    assert "0 items added" in cli.ok("init").stdout
    assert cli.count("catalog_items") == items


def test_init_twice_upgrades_and_does_not_duplicate_the_admin(cli: CliEnv) -> None:
    first = cli.ok("init", "--admin-user", "root", "--admin-password-stdin", input=cli.password + "\n")
    assert cli.password not in first.output  # a password given on stdin is never echoed
    key_before = cli.key_file.read_bytes()
    second = cli.ok("init")
    assert "already exists (root)" in second.stdout
    assert "already at head" in second.stdout
    assert "key file exists" in second.stdout
    assert cli.key_file.read_bytes() == key_before
    assert stat.S_IMODE(cli.key_file.stat().st_mode) == 0o600
    assert cli.count("users", "role = 'admin'") == 1


def test_init_with_a_weak_password_changes_nothing(cli: CliEnv) -> None:
    result = cli.fails("init", "--admin-password-stdin", input="short\n")
    assert "password must have at least 10 characters" in result.stderr
    assert not cli.key_file.exists()
    assert not cli.db_path.exists()


def test_init_refuses_to_replace_a_lost_key_file_when_data_exists(initialised: CliEnv) -> None:
    cli = initialised
    cli.ok("demo", "--no-serve", "--people", "5")
    cli.key_file.unlink()
    result = cli.fails("init")
    assert "key file" in result.stderr and "restore it from its backup" in result.stderr
    assert not cli.key_file.exists()


def test_db_current_and_upgrade(initialised: CliEnv) -> None:
    cli = initialised
    current = cli.ok("db", "current")
    assert "up to date" in current.stdout
    upgrade = cli.ok("db", "upgrade")
    assert "already at head" in upgrade.stdout


def test_db_current_reports_an_unmigrated_database(cli: CliEnv) -> None:
    cli.db_path.parent.mkdir(parents=True)
    cli.sql("CREATE TABLE something (id INTEGER)")
    result = cli.run("db", "current")
    assert result.exit_code == 1
    assert "db upgrade" in result.stdout
    cli.ok("db", "upgrade")
    cli.ok("db", "current")


def test_commands_before_init_say_so(cli: CliEnv) -> None:
    result = cli.fails("dept", "list")
    assert "xinyong init" in result.stderr
    assert not cli.db_path.exists()  # no empty database file left behind


def test_serve_refuses_without_the_key_file(initialised: CliEnv) -> None:
    cli = initialised
    cli.key_file.unlink()
    result = cli.fails("serve", "--port", "1")
    assert "key file not found" in result.stderr


def test_serve_refuses_an_unmigrated_database(cli: CliEnv) -> None:
    KeyRing.load_or_create(cli.key_file)
    cli.db_path.parent.mkdir(parents=True, exist_ok=True)
    cli.sql("CREATE TABLE something (id INTEGER)")
    result = cli.fails("serve", "--port", "1")
    assert "xinyong init" in result.stderr or "db upgrade" in result.stderr


def test_version_and_help(cli: CliEnv) -> None:
    assert "xinyong" in cli.ok("--version").stdout
    help_text = cli.ok("--help").stdout
    for command in ("init", "serve", "demo", "db", "dept", "apikey", "user", "keys", "audit", "catalog"):
        assert command in help_text


def test_db_downgrade_rolls_an_upgrade_back_and_refuses_what_it_cannot(initialised: CliEnv) -> None:
    """operations.md spoke of downgrades (0019's needs the key file) but gave no command: an operator
    whose upgrade went wrong could only restore the backup and lose what was entered since."""
    from datetime import date

    from tests.support import new_id_number

    cli = initialised
    number = new_id_number(born=date(1985, 6, 7))
    cli.ok("user", "add", "zhangsan", "--role", "citizen", "--id-number-stdin", "--password-stdin",
           "--name", "张三", input=f"{number}\n{cli.password}\n")
    [(head,)] = cli.sql("SELECT version_num FROM alembic_version")  # the head: 0019 when this was written
    assert head >= "0019"
    assert "not older than" in cli.fails("db", "downgrade", head).stderr
    assert "no revision 0099" in cli.fails("db", "downgrade", "0099").stderr
    key = cli.key_file.read_bytes()
    cli.key_file.unlink()  # 0019's downgrade decrypts every ID number: without the key it changes nothing
    assert "key file not found" in cli.fails("db", "downgrade", "0018").stderr
    assert cli.sql("SELECT version_num FROM alembic_version") == [(head,)]
    cli.key_file.write_bytes(key)
    cli.key_file.chmod(0o600)

    result = cli.ok("db", "downgrade", "0017")
    assert f"database downgraded: {head} -> 0017" in result.stdout
    assert cli.sql("SELECT birth_date, gender, region_code FROM subjects") == [("1985-06-07", "M" if int(
        number[16]) % 2 else "F", "120101")]
    assert cli.run("db", "current").exit_code == 1
    assert "db upgrade" in cli.fails("dept", "list").stderr
    cli.ok("db", "upgrade")
    cli.ok("db", "current")
    assert cli.count("subjects") == 1
