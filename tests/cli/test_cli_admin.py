"""dept, apikey and user commands: thin, audited, refusing cleanly."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from xinyong.auth.service import authenticate, principal_for_api_key
from xinyong.db import Database
from xinyong.privacy.identity import make_id_number
from xinyong.subjects.service import find_by_id_number

if TYPE_CHECKING:
    from conftest import CliEnv

CITIZEN_ID = make_id_number("120101", date(1985, 3, 9), 11)
OTHER_ID = make_id_number("120101", date(1990, 7, 1), 22)


def _bad_checksum(number: str) -> str:
    last = "0" if number[-1] != "0" else "1"
    return number[:-1] + last


def test_dept_add_and_list(initialised: CliEnv) -> None:
    cli = initialised
    cli.ok("dept", "add", "scjg", "区市场监管局", "--name-en", "District Market Regulation Bureau")
    cli.ok("dept", "add", "bank1", "某银行", "--kind", "institution")
    listing = cli.ok("dept", "list").stdout
    assert "scjg" in listing and "区市场监管局" in listing and "District Market Regulation Bureau" in listing
    assert "institution" in listing
    assert cli.count("audit_entries", "action = 'department.create'") == 2


def test_dept_add_duplicate_fails_with_a_message_and_changes_nothing(initialised: CliEnv) -> None:
    cli = initialised
    cli.ok("dept", "add", "scjg", "区市场监管局")
    entries = cli.count("audit_entries")
    result = cli.fails("dept", "add", "scjg", "另一个名称")
    assert result.exit_code == 1
    assert "部门代码 scjg 已存在" in result.stderr and "already exists" in result.stderr
    assert cli.count("departments") == 1
    assert cli.count("audit_entries") == entries


def test_dept_add_invalid_kind(initialised: CliEnv) -> None:
    result = initialised.fails("dept", "add", "x1", "某单位", "--kind", "ministry")
    assert "kind must be department or institution" in result.stderr


def test_apikey_create_prints_the_key_alone_on_the_last_line_and_authenticates(initialised: CliEnv) -> None:
    cli = initialised
    cli.ok("dept", "add", "scjg", "区市场监管局")
    result = cli.ok("apikey", "create", "--dept", "scjg", "--name", "业务系统")
    key = cli.last_line(result.stdout)
    assert key.startswith("xy_") and " " not in key
    db = Database(cli.url)
    try:
        with db.session() as s:
            principal, _ = principal_for_api_key(s, secret=key)
            assert principal is not None
            assert principal.label == "scjg:业务系统"
        # The list never shows the secret.
        listing = cli.ok("apikey", "list", "--dept", "scjg").stdout
        assert key not in listing and "active" in listing
        key_id = cli.sql("SELECT id FROM api_keys")[0][0]
        revoked = cli.ok("apikey", "revoke", str(key_id))
        assert "revoked" in revoked.stdout
        with db.session() as s:
            principal, row = principal_for_api_key(s, secret=key)
            assert principal is None and row is not None
        assert "revoked" in cli.ok("apikey", "list").stdout
        again = cli.fails("apikey", "revoke", str(key_id))
        assert "already revoked" in again.stderr
    finally:
        db.dispose()
    assert cli.count("audit_entries", "action IN ('apikey.create', 'apikey.revoke')") == 2


def test_apikey_for_an_unknown_department(initialised: CliEnv) -> None:
    result = initialised.fails("apikey", "create", "--dept", "nope", "--name", "x")
    assert "部门 nope 不存在" in result.stderr and "department nope does not exist" in result.stderr
    assert initialised.count("api_keys") == 0
    assert "does not exist" in initialised.fails("apikey", "revoke", "42").stderr
    assert "does not exist" in initialised.fails("apikey", "list", "--dept", "nope").stderr


def test_user_add_citizen_reads_id_number_then_password_from_stdin(initialised: CliEnv) -> None:
    cli = initialised
    result = cli.ok("user", "add", "zhangsan", "--role", "citizen", "--id-number-stdin", "--password-stdin",
                    "--name", "张三丰", input=f"{CITIZEN_ID}\n{cli.password}\n")
    assert CITIZEN_ID not in result.output  # never the raw number …
    assert f"{CITIZEN_ID[:6]}********{CITIZEN_ID[-4:]}" in result.stdout  # … only the masked one
    assert "credit subject registered" in result.stdout
    db = Database(cli.url)
    try:
        with db.session() as s:
            user = authenticate(s, username="zhangsan", password=cli.password)
            subject = find_by_id_number(s, vault=cli.vault(), id_number=CITIZEN_ID)
            assert subject is not None and user.subject_id == subject.id and user.role == "citizen"
    finally:
        db.dispose()
    # A second account for a registered person needs no name; one account per person.
    dup = cli.fails("user", "add", "zhangsan2", "--role", "citizen", "--id-number-stdin", "--password-stdin",
                    input=f"{CITIZEN_ID}\n{cli.password}\n")
    assert "already bound to another account" in dup.stderr
    assert CITIZEN_ID not in dup.output


def test_user_add_citizen_needs_a_name_for_an_unregistered_person(initialised: CliEnv) -> None:
    cli = initialised
    result = cli.fails("user", "add", "lisi", "--role", "citizen", "--id-number-stdin", "--password-stdin",
                       input=f"{OTHER_ID}\n{cli.password}\n")
    assert "--name" in result.stderr
    assert cli.count("subjects") == 0 and cli.count("users", "username = 'lisi'") == 0


def test_user_add_with_an_invalid_id_number(initialised: CliEnv) -> None:
    cli = initialised
    bad = _bad_checksum(OTHER_ID)
    entries = cli.count("audit_entries")
    result = cli.fails("user", "add", "wangwu", "--role", "citizen", "--id-number-stdin", "--password-stdin",
                       "--name", "王五", input=f"{bad}\n{cli.password}\n")
    assert result.exit_code == 1
    assert "身份证号码校验位错误" in result.stderr
    assert "check character of the ID number is wrong" in result.stderr
    assert bad not in result.output
    assert cli.count("subjects") == 0 and cli.count("users", "username = 'wangwu'") == 0
    assert cli.count("audit_entries") == entries
    short = cli.fails("user", "add", "wangwu", "--role", "citizen", "--id-number-stdin", "--password-stdin",
                      "--name", "王五", input=f"12345\n{cli.password}\n")
    assert "ID number must have 18 characters" in short.stderr


def test_user_add_officer_and_disable(initialised: CliEnv) -> None:
    cli = initialised
    cli.ok("dept", "add", "gaj", "公安和平分局")
    cli.ok("user", "add", "officer1", "--role", "officer", "--dept", "gaj", "--password-stdin",
           input=cli.password + "\n")
    assert cli.sql("SELECT role, active FROM users WHERE username = 'officer1'") == [("officer", 1)]
    assert "disabled" in cli.ok("user", "disable", "officer1").stdout
    assert cli.sql("SELECT active FROM users WHERE username = 'officer1'") == [(0,)]
    assert "already disabled" in cli.ok("user", "disable", "officer1").stdout
    assert "does not exist" in cli.fails("user", "disable", "nobody").stderr
    assert cli.count("audit_entries", "action = 'user.disable'") == 1


def test_user_add_refusals(initialised: CliEnv) -> None:
    cli = initialised
    pw = cli.password + "\n"
    no_dept = cli.fails("user", "add", "officer2", "--role", "officer", "--password-stdin", input=pw)
    assert "an officer needs a department" in no_dept.stderr
    weak = cli.fails("user", "add", "aud", "--role", "auditor", "--password-stdin", input="short\n")
    assert "at least 10 characters" in weak.stderr
    no_stdin = cli.fails("user", "add", "aud", "--role", "auditor")
    assert "--password-stdin" in no_stdin.stderr
    not_citizen = cli.fails("user", "add", "aud", "--role", "auditor", "--id-number-stdin",
                            "--password-stdin", input=f"{OTHER_ID}\n{cli.password}\n")
    assert "only citizen accounts" in not_citizen.stderr
    bad_role = cli.fails("user", "add", "aud", "--role", "king", "--password-stdin", input=pw)
    assert "role must be one of" in bad_role.stderr
    missing = cli.fails("user", "add", "cit", "--role", "citizen", "--id-number-stdin", "--password-stdin",
                        input=f"{OTHER_ID}\n")
    assert "standard input ended" in missing.stderr
    assert cli.count("users") == 1  # only the admin
