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
    assert cli.count("audit_entries") == entries + 1  # the refusal, registered with its actor
    assert cli.sql("SELECT action, outcome, actor_label FROM audit_entries ORDER BY id DESC LIMIT 1")[0][:2] == (
        "department.create", "failed")


def test_user_add_refuses_an_officer_of_an_institution_and_an_institution_user_of_a_department(
        initialised: CliEnv) -> None:
    # the operator's page says so: officer needs --dept, institution needs --dept of kind institution
    cli = initialised
    cli.ok("dept", "add", "scjg", "区市场监管局")
    cli.ok("dept", "add", "bank1", "某银行", "--kind", "institution")
    for username, role, dept in (("clerk1", "officer", "bank1"), ("clerk2", "institution", "scjg")):
        entries = cli.count("audit_entries")
        result = cli.fails("user", "add", username, "--role", role, "--dept", dept, "--password-stdin",
                           input=cli.password + "\n")
        assert result.exit_code == 1 and dept in result.stderr and "institution" in result.stderr, result.stderr
        assert cli.count("users", f"username = '{username}'") == 0
        assert cli.count("audit_entries") == entries + 1
        assert cli.sql("SELECT action, outcome FROM audit_entries ORDER BY id DESC LIMIT 1")[0] == (
            "user.create", "failed")
    cli.ok("user", "add", "clerk3", "--role", "institution", "--dept", "bank1", "--password-stdin",
           input=cli.password + "\n")


def test_dept_add_invalid_kind(initialised: CliEnv) -> None:
    result = initialised.fails("dept", "add", "x1", "某单位", "--kind", "ministry")
    assert "kind must be department or institution" in result.stderr


def test_dept_deactivate_and_activate(initialised: CliEnv) -> None:
    """机构撤并 from the command line: the department's officer can no longer log in and its key is
    refused until it is reactivated (the key is not revoked); each change audited with its reason."""
    from xinyong.auth.service import AuthError

    cli = initialised
    cli.ok("dept", "add", "scjg", "区市场监管局")
    cli.ok("user", "add", "officer1", "--role", "officer", "--dept", "scjg", "--password-stdin",
           input=cli.password + "\n")
    key = cli.last_line(cli.ok("apikey", "create", "--dept", "scjg", "--name", "业务系统").stdout)
    out = cli.ok("dept", "deactivate", "scjg", "--reason", "  机构撤并  ").stdout
    assert "deactivated: scjg" in out and "keys suspended: 1" in out
    assert "inactive" in cli.ok("dept", "list").stdout
    # its key is refused, and the list says so (it said "active")
    assert " suspended " in cli.ok("apikey", "list", "--dept", "scjg").stdout
    db = Database(cli.url)
    try:
        with db.session() as s:
            assert principal_for_api_key(s, secret=key)[0] is None
        try:
            with db.session() as s:
                authenticate(s, username="officer1", password=cli.password)
            raise AssertionError("an officer of an inactive department logged in")
        except AuthError as exc:
            assert exc.code == "department_inactive"
        again = cli.fails("dept", "deactivate", "scjg", "--reason", "又一次")
        assert "已是停用状态" in again.stderr and "already inactive" in again.stderr
        assert cli.run("dept", "deactivate", "scjg").exit_code == 2  # --reason is required: a usage error
        assert "does not exist" in cli.fails("dept", "deactivate", "nope", "--reason", "撤并").stderr
        assert "keys restored: 1" in cli.ok("dept", "activate", "scjg").stdout
        assert "already active" in cli.fails("dept", "activate", "scjg").stderr
        assert " active " in cli.ok("apikey", "list", "--dept", "scjg").stdout
        with db.session() as s:
            assert principal_for_api_key(s, secret=key)[0] is not None
            assert authenticate(s, username="officer1", password=cli.password).username == "officer1"
    finally:
        db.dispose()
    assert cli.sql("SELECT revoked_at FROM api_keys") == [(None,)]
    assert cli.count("audit_entries", "action = 'department.deactivate' AND outcome = 'ok'") == 1
    assert cli.count("audit_entries", "action = 'department.reactivate' AND outcome = 'ok'") == 1
    # the refusals too, as the page's and the API's are (the second reason is not kept)
    refused = cli.sql("SELECT action, outcome, details FROM audit_entries WHERE outcome != 'ok' "
                      "AND action LIKE 'department.%' ORDER BY id")
    assert [(a, o) for a, o, _d in refused] == [("department.deactivate", "denied"), ("department.deactivate", "denied"),
                                               ("department.reactivate", "denied")]
    assert ['"already_inactive"' in str(d) and '"cli"' in str(d) for _a, _o, d in refused][0]
    assert '"not_found"' in str(refused[1][2]) and '"already_active"' in str(refused[2][2])
    assert all("又一次" not in str(d) for _a, _o, d in refused)
    [(actor_type, details)] = cli.sql("SELECT actor_type, details FROM audit_entries "
                                      "WHERE action = 'department.deactivate' AND outcome = 'ok'")
    assert actor_type == "system" and "机构撤并" in details and "  机构撤并" not in details


def test_dept_deactivate_refuses_an_empty_reason(initialised: CliEnv) -> None:
    cli = initialised
    cli.ok("dept", "add", "scjg", "区市场监管局")
    refused = cli.fails("dept", "deactivate", "scjg", "--reason", "   ")
    assert "请填写停用原因" in refused.stderr and "a reason is required" in refused.stderr
    assert cli.sql("SELECT active FROM departments WHERE code = 'scjg'") == [(1,)]
    assert cli.count("audit_entries", "action = 'department.deactivate' AND outcome = 'failed'") == 1


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
    assert cli.count("audit_entries", "action IN ('apikey.create', 'apikey.revoke')") == 3
    # the second revocation, refused, is registered as the API's 409 and the pages' are
    assert cli.count("audit_entries", "action = 'apikey.revoke' AND outcome = 'denied'") == 1


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


def test_user_add_citizen_for_a_person_not_yet_registered_binds_the_number(initialised: CliEnv) -> None:
    """Issue 2's command as it stands (no name): the account is bound to the ID number, and linked to the
    person once the platform registers them (at the next sign-in); one account a number all the same."""
    from xinyong.audit.service import Actor
    from xinyong.subjects.service import register

    cli = initialised
    result = cli.ok("user", "add", "lisi", "--role", "citizen", "--id-number-stdin", "--password-stdin",
                    input=f"{OTHER_ID}\n{cli.password}\n")
    assert f"{OTHER_ID[:6]}********{OTHER_ID[-4:]}" in result.stdout and OTHER_ID not in result.output
    assert "linked once the person is registered" in result.stdout and "credit subject registered" not in result.stdout
    assert cli.count("subjects") == 0 and cli.count("users", "username = 'lisi' AND subject_id IS NULL") == 1
    dup = cli.fails("user", "add", "lisi2", "--role", "citizen", "--id-number-stdin", "--password-stdin",
                    input=f"{OTHER_ID}\n{cli.password}\n")
    assert "already bound to another account" in dup.stderr
    db = Database(cli.url)
    try:
        with db.session() as s:
            assert authenticate(s, username="lisi", password=cli.password).subject_id is None
            subject, _ = register(s, vault=cli.vault(), id_number=OTHER_ID, name="李四", actor=Actor.system("test"))
            subject_id = subject.id
        with db.session() as s:
            assert authenticate(s, username="lisi", password=cli.password).subject_id == subject_id
        with db.session() as s:  # the link is a change of the account, registered once
            from sqlalchemy import select

            from xinyong.audit.models import AuditEntry

            linked = s.execute(select(AuditEntry.actor_label, AuditEntry.details)
                               .where(AuditEntry.action == "user.link_subject")).all()
            assert [tuple(r) for r in linked] == [("lisi", {"subject_id": subject_id, "via": "sign-in"})]
            assert authenticate(s, username="lisi", password=cli.password).subject_id == subject_id
    finally:
        db.dispose()
    assert cli.count("users", f"username = 'lisi' AND subject_id = {subject_id}") == 1


def test_user_add_citizen_refused_says_no_one_was_registered(initialised: CliEnv) -> None:
    """A citizen account refused after the person was registered in its transaction (here: a user name
    too short) rolls back the registration too, and does not say it registered anyone."""
    cli = initialised
    result = cli.fails("user", "add", "zs", "--role", "citizen", "--id-number-stdin", "--password-stdin",
                       "--name", "张三", input=f"{OTHER_ID}\n{cli.password}\n")
    assert "username must be 3-64" in result.stderr
    assert "registered" not in result.output
    assert cli.count("subjects") == 0 and cli.count("users", "username = 'zs'") == 0


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
    # nothing changed; one entry registers the refusal (the issue: where an actor is known), never the number
    assert cli.count("audit_entries") == entries + 1
    assert cli.sql("SELECT action, outcome FROM audit_entries ORDER BY id DESC LIMIT 1")[0] == ("user.create", "failed")
    assert not cli.sql("SELECT id FROM audit_entries WHERE details LIKE ?", (f"%{bad}%",))
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


def test_user_enable_and_password_let_an_operator_recover_an_account(initialised: CliEnv) -> None:
    """`user disable` had no way back from the command line, and no password could be set anywhere: an
    operator whose only administrator forgot the password or was locked out by failed logins had no
    way in (`init` creates an administrator only when there is none)."""
    import contextlib
    import json

    from xinyong.auth.service import AuthError, authenticate, start_session
    from xinyong.db import Database

    cli = initialised
    cli.ok("user", "disable", "admin")
    assert "enabled: admin" in cli.ok("user", "enable", "admin").stdout
    assert "already enabled" in cli.ok("user", "enable", "admin").stdout
    assert cli.sql("SELECT active FROM users WHERE username = 'admin'") == [(1,)]
    assert cli.count("audit_entries", "action = 'user.enable'") == 1
    db = Database(cli.url)
    try:
        with db.session() as s:  # a session open somewhere, and the account locked by failed logins
            start_session(s, user=authenticate(s, username="admin", password=cli.password), hours=1)
        for _ in range(5):
            # the failure is registered and committed, as the login page does
            with db.session() as s, contextlib.suppress(AuthError):
                authenticate(s, username="admin", password="not-the-password")
        assert cli.sql("SELECT locked_until IS NOT NULL FROM users WHERE username = 'admin'") == [(1,)]
        weak = cli.fails("user", "password", "admin", "--password-stdin", input="short\n")
        assert "at least 10 characters" in weak.stderr
        assert cli.sql("SELECT outcome FROM audit_entries WHERE action = 'user.password'") == [("failed",)]
        new = "a-new-long-password"
        assert "password set" in cli.ok("user", "password", "admin", "--password-stdin", input=new + "\n").stdout
        assert cli.count("web_sessions", "ended_at IS NULL") == 0 < cli.count("web_sessions")
        with db.session() as s:
            assert authenticate(s, username="admin", password=new).username == "admin"
        [(details,)] = cli.sql("SELECT details FROM audit_entries WHERE action = 'user.password' AND outcome = 'ok'")
        assert json.loads(details) == {"username": "admin", "unlocked": True}
        assert new not in str(cli.sql("SELECT details FROM audit_entries"))
    finally:
        db.dispose()
    assert "does not exist" in cli.fails("user", "password", "nobody", "--password-stdin", input=new + "\n").stderr
    assert "does not exist" in cli.fails("user", "enable", "nobody").stderr


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


def test_apikey_names_with_an_id_number_or_a_line_break_are_refused_and_audited(initialised: CliEnv) -> None:
    """A key's name is its actor label in every revision and audit entry and in `apikey list`'s table:
    an ID number in it (kept raw) or a line break (a forged table row) is refused, the refusal audited."""
    cli = initialised
    cli.ok("dept", "add", "scjg", "区市场监管局")
    for name in ("李四11010519491231002X系统", "业务系统\n9  scjg  forged"):
        result = cli.fails("apikey", "create", "--dept", "scjg", "--name", name)
        assert "密钥名称" in result.stderr and "key name" in result.stderr
        assert "11010519491231002X" not in result.output
    assert cli.count("api_keys") == 0
    assert cli.count("audit_entries", "action = 'apikey.create' AND outcome = 'failed'") == 2


def test_user_add_gives_an_auditor_no_department(initialised: CliEnv) -> None:
    """``xinyong user add --role auditor --dept CODE``: refused (an auditor acts for no department),
    registered as ``user.create`` ``failed``, nothing created; without ``--dept`` it is added."""
    cli = initialised
    cli.ok("dept", "add", "scjg", "区市场监管局")
    entries = cli.count("audit_entries")
    result = cli.fails("user", "add", "aud1", "--role", "auditor", "--dept", "scjg", "--password-stdin",
                       input=cli.password + "\n")
    assert result.exit_code == 1 and "不属于任何部门" in result.stderr and "no department" in result.stderr
    assert cli.count("users", "username = 'aud1'") == 0
    assert cli.count("audit_entries") == entries + 1
    assert cli.sql("SELECT action, outcome FROM audit_entries ORDER BY id DESC LIMIT 1")[0] == ("user.create", "failed")
    cli.ok("user", "add", "aud1", "--role", "auditor", "--password-stdin", input=cli.password + "\n")
