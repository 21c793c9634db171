"""The ``xinyong`` command line (Typer). Thin: every change goes through a service function and is
audited there, inside one unit of work per command (``Database.session()`` commits at the end or
rolls back on any error).

Errors the operator can act on (an invalid ID number, a duplicate department, a missing key file, an
unreachable database …) end as one bilingual line on stderr and exit status 1, never a traceback;
usage errors exit 2 (Click's convention). Nothing here prints a raw ID number: output shows masked
values only, and every error message passes through :func:`xinyong.logging_setup.sanitize`.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    InterfaceError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session
from typer.core import TyperGroup

from xinyong import __version__, clock
from xinyong.audit.service import Actor, record
from xinyong.config import Settings, get_settings
from xinyong.db import Database

# ---- errors -----------------------------------------------------------------------------------


class CliError(Exception):
    """A refusal the operator can act on: printed as one bilingual line, exit status 1."""

    def __init__(self, zh: str, en: str, code: int = 1) -> None:
        self.zh, self.en, self.code = zh, en, code
        super().__init__(f"{zh} / {en}")

    @property
    def message(self) -> str:
        return f"{self.zh} / {self.en}"


def _has_cjk(text_: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in text_)


def _safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - never let a bad URL leak or crash the message
        return "(无效的地址 / invalid URL)"


def _db_reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = [ln.strip() for ln in str(orig).strip().splitlines() if ln.strip()]
    reason = lines[0] if lines else type(orig).__name__
    return reason[:240]


def describe_error(exc: BaseException) -> str:
    """One bilingual line for any error a command can raise (already free of ID numbers)."""
    from pydantic import ValidationError

    from xinyong.audit.service import CheckpointError
    from xinyong.logging_setup import sanitize
    from xinyong.privacy.crypto import DecryptionError
    from xinyong.privacy.keys import KeyFileError

    try:
        url = _safe_url(get_settings().database_url)
    except Exception:  # noqa: BLE001 - the settings themselves may be what is wrong
        url = "(XINYONG_DATABASE_URL)"
    if isinstance(exc, CliError):
        msg = exc.message
    elif hasattr(exc, "zh") and hasattr(exc, "en"):  # AuthError, SubjectError and their kind
        msg = f"{exc.zh} / {exc.en}"
    elif hasattr(exc, "message_zh") and hasattr(exc, "message_en"):  # InvalidIdNumber
        msg = f"{exc.message_zh} / {exc.message_en}"
    elif isinstance(exc, ValidationError):
        fields = "; ".join(f"XINYONG_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
                           for e in exc.errors())
        msg = f"配置无效 / invalid configuration: {fields}"
    elif isinstance(exc, KeyFileError):
        msg = str(exc) if _has_cjk(str(exc)) else f"密钥文件无效 / invalid key file: {exc}"
    elif isinstance(exc, CheckpointError):
        msg = str(exc)
    elif isinstance(exc, DecryptionError):
        msg = (f"解密失败：密钥文件与数据库不匹配？ / decryption failed: does the key file belong to this "
               f"database? ({exc})")
    elif isinstance(exc, ArgumentError | NoSuchModuleError):
        msg = (f"数据库地址无效，应为 sqlite:///… 或 postgresql+psycopg://… / invalid database URL "
               f"(XINYONG_DATABASE_URL): {url}: use sqlite:///… or postgresql+psycopg://…")
    elif isinstance(exc, DBAPIError):
        reason = _db_reason(exc)
        if "no such table" in reason or ("relation" in reason and "does not exist" in reason):
            msg = ("数据库尚未初始化或未升级，请运行 `xinyong init` / "
                   f"the database is not initialised or not upgraded: run `xinyong init` ({reason})")
        elif isinstance(exc, OperationalError | InterfaceError):  # connection, authentication, locks
            msg = f"无法连接数据库或数据库出错 / cannot reach the database {url}: {reason}"
        else:  # the database answered and refused (a constraint): reaching it was not the problem
            msg = f"数据库出错 / database error ({url}): {type(exc).__name__}: {reason}"
    elif isinstance(exc, SQLAlchemyError):
        msg = f"数据库出错 / database error ({url}): {type(exc).__name__}: {_db_reason(exc)}"
    elif isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        msg = f"文件或网络操作失败 / file or network error{where}: {exc.strerror or exc}"
    else:
        msg = (f"内部错误 / unexpected error: {type(exc).__name__}: {exc} "
               f"(设置 XINYONG_CLI_TRACEBACK=1 查看详情 / set XINYONG_CLI_TRACEBACK=1 for the traceback)")
    return sanitize(msg)


class _Group(TyperGroup):
    """The root group: turns any error raised below it into one clean line on stderr."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):  # Typer's own: usage errors exit 2
            raise
        except BrokenPipeError:  # `xinyong … | head`: the reader left; say nothing more
            raise typer.Exit(1) from None
        except Exception as exc:
            if os.environ.get("XINYONG_CLI_TRACEBACK") == "1":
                raise
            typer.echo(f"错误 / error: {describe_error(exc)}", err=True)
            raise typer.Exit(getattr(exc, "code", 1) if isinstance(exc, CliError) else 1) from None


# ---- the app ----------------------------------------------------------------------------------

app = typer.Typer(
    cls=_Group,
    name="xinyong",
    help="xinyong 个人公共信用信息共享服务平台 — personal public credit information platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
)
db_app = typer.Typer(help="数据库迁移 / database migrations", no_args_is_help=True)
dept_app = typer.Typer(help="部门与机构 / departments and institutions", no_args_is_help=True)
apikey_app = typer.Typer(help="部门业务系统的 API 密钥 / departments' API keys", no_args_is_help=True)
user_app = typer.Typer(help="用户账户 / user accounts", no_args_is_help=True)
keys_app = typer.Typer(help="密钥文件 / the key file", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(dept_app, name="dept")
app.add_typer(apikey_app, name="apikey")
app.add_typer(user_app, name="user")
app.add_typer(keys_app, name="keys")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"xinyong {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="显示版本 / show the version")] = False,
) -> None:
    """xinyong 个人公共信用信息共享服务平台 — personal public credit information platform."""


def main() -> None:
    """Console-script entry point (``xinyong``)."""
    from xinyong import runtime

    runtime.configure_gc()  # its jobs (imports, batch comparison, maintenance) run in this process
    app(prog_name="xinyong")


# ---- shared helpers (also used by xinyong.audit.cli) ---------------------------------------------

def settings() -> Settings:
    got = get_settings()
    clock.configure(got.timezone)
    return got


def cli_actor() -> Actor:
    """The audit actor of a CLI change: ``system`` with the operating-system user's name."""
    try:
        who = getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        who = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return Actor.system(f"cli:{who}"[:64])


def echo(message: str = "") -> None:
    typer.echo(message)


def warn(message: str) -> None:
    typer.echo(f"注意 / warning: {message}", err=True)


def _sqlite_file(url: str) -> Path | None:
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if not parsed.drivername.startswith("sqlite") or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def _ping(db: Database) -> None:
    with db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def _migrate() -> Any:
    from xinyong import migrate  # Alembic is imported only by the commands that need it

    return migrate


def revisions(db: Database) -> tuple[set[str], set[str]]:
    """(current revisions of the database, head revisions shipped with this version)."""
    with db.engine.connect() as conn:
        current = _migrate().current_heads(conn)
    return current, _migrate().script_heads()


def check_revision(db: Database) -> None:
    current, head = revisions(db)
    if not current:
        raise CliError("数据库尚未初始化，请先运行 `xinyong init`",
                       "the database is not initialised: run `xinyong init` first")
    if current != head:
        cur, hd = ", ".join(sorted(current)), ", ".join(sorted(head))
        raise CliError(f"数据库版本 {cur} 不是最新版本 {hd}，请运行 `xinyong db upgrade`",
                       f"the database is at revision {cur}, not at head {hd}: run `xinyong db upgrade`")


@contextmanager
def database(cfg: Settings, *, require_head: bool = True, create: bool = False) -> Iterator[Database]:
    """A Database for one command, disposed after: reachable, migrated to head unless
    ``require_head`` is false, and (for SQLite) an existing file unless ``create`` is true."""
    import xinyong.models  # noqa: F401 - every model, so relationships and foreign keys resolve

    if not create:
        path = _sqlite_file(cfg.database_url)
        if path is not None and not path.exists():  # don't leave an empty file behind
            raise CliError(f"数据库文件 {path} 不存在，请先运行 `xinyong init`",
                           f"database file {path} does not exist: run `xinyong init` first")
    db = Database(cfg.database_url)
    try:
        if require_head:
            check_revision(db)
            from xinyong import workdays

            workdays.sync_from(db)  # the administrator's holiday table, for the working days it counts
        else:
            _ping(db)
        yield db
    finally:
        db.dispose()


def load_ring(cfg: Settings) -> Any:
    """The key ring from ``cfg.key_file`` (``KeyFileError`` with a bilingual message if missing); a
    warning on standard error when others than its owner may read it (every command that loads it)."""
    from xinyong.privacy.keys import KeyRing

    ring = KeyRing.load(cfg.key_file)
    _check_key_file_mode(cfg.key_file)
    return ring


def load_default_catalog(db: Database) -> dict[str, int] | None:
    """Load the catalog shipped with xinyong (items not yet present; safe to repeat). Counts by outcome."""
    catalog = _optional("xinyong.catalog.service")
    if catalog is None:
        return None
    with db.session() as s:
        outcome: dict[str, str] = catalog.load_default(s, actor=cli_actor())
    counts: dict[str, int] = {}
    for what in outcome.values():
        counts[what] = counts.get(what, 0) + 1
    return counts


def load_default_rules(db: Database) -> dict[str, dict[str, int]]:
    """Load the other rules shipped as data (list kinds, the scoring ruleset, measures and
    scenarios) when not yet present; safe to repeat. Counts by outcome, per kind of rule."""
    from xinyong.lists import service as lists
    from xinyong.measures import service as measures
    from xinyong.scoring import service as scoring

    results: dict[str, dict[str, int]] = {}
    with db.session() as s:
        for label, loader in (("信用名单种类 / list kinds", lists.load_default),
                              ("奖惩措施与场景 / measures and scenarios", measures.load_default)):
            counts: dict[str, int] = {}
            for what in loader(s, actor=cli_actor()).values():
                counts[what] = counts.get(what, 0) + 1
            results[label] = counts
        from xinyong.scoring.models import ScoringRuleset

        had = s.scalar(select(func.count()).select_from(ScoringRuleset))
        scoring.ensure_default(s, actor=cli_actor())
        results["积分规则 / scoring ruleset"] = {"unchanged" if had else "created": 1}
    return results


def _protect_new_sqlite_file(cfg: Settings, existed: bool) -> None:
    """A SQLite file this command created is readable by its owner only (SQLite gives its -wal and
    -shm files the same mode)."""
    path = _sqlite_file(cfg.database_url)
    if path is not None and not existed and path.exists() and os.name == "posix":
        os.chmod(path, 0o600)


def _sqlite_exists(cfg: Settings) -> bool:
    path = _sqlite_file(cfg.database_url)
    return path is not None and path.exists()


def _file_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def _check_key_file_mode(path: Path) -> None:
    if os.name == "posix" and path.exists() and _file_mode(path) & 0o077:
        mode = f"{_file_mode(path):o}"
        warn(f"密钥文件 {path} 的权限为 {mode}，应为 600（chmod 600） / "
             f"key file {path} has mode {mode}; it should be 600 (chmod 600)")


def read_stdin_lines(count: int, zh: str, en: str) -> list[str]:
    """Read ``count`` lines from standard input (line endings removed, nothing else)."""
    lines: list[str] = []
    for _ in range(count):
        line = sys.stdin.readline()
        if not line:
            raise CliError(f"标准输入中缺少{zh}", f"standard input ended before the {en}")
        lines.append(line.rstrip("\r\n"))
    return lines


def _prompt_secret(zh: str, en: str, *, flag: str, confirm: bool) -> str:
    """Ask on the terminal (hidden); without a terminal, ask for the ``--…-stdin`` flag instead."""
    if not sys.stdin.isatty():
        raise CliError(f"请使用 {flag} 从标准输入提供{zh}", f"give the {en} on standard input with {flag}")
    value: str = typer.prompt(f"{zh} / {en}", hide_input=True, confirmation_prompt=confirm)
    return value


def _table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(_width(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        echo("  ".join(cell + " " * (widths[i] - _width(cell)) for i, cell in enumerate(r)).rstrip())


def _width(cell: str) -> int:
    return sum(2 if "\u2e80" <= c <= "\uffef" else 1 for c in cell)


def _fmt_time(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "-"


# ---- init and db --------------------------------------------------------------------------------

@app.command()
def init(
    admin_user: Annotated[str, typer.Option(
        "--admin-user", help="首个管理员用户名 / first admin's username")] = "admin",
    admin_password_stdin: Annotated[bool, typer.Option(
        "--admin-password-stdin", help="从标准输入读取管理员密码 / read the admin password from stdin")
    ] = False,
) -> None:
    """初始化：密钥、数据库、目录、首个管理员 / set up keys, database, catalog, first admin.

    可重复运行：已有的密钥与管理员保持不变，数据库升级到最新版本。
    Safe to run again: existing keys and admin are kept; the database is upgraded to head.
    """
    from xinyong.auth.models import User
    from xinyong.auth.service import add_user, check_password_strength, random_password
    from xinyong.privacy.keys import KeyRing
    from xinyong.subjects.models import Subject

    cfg = settings()
    password: str | None = None
    if admin_password_stdin:
        password = read_stdin_lines(1, "密码", "password")[0]
        check_password_strength(password)
    existed = _sqlite_exists(cfg)
    db = Database(cfg.database_url)
    try:
        _ping(db)
        _protect_new_sqlite_file(cfg, existed)
        current, head = revisions(db)
        if not cfg.key_file.exists() and current:
            with db.session() as s:
                if s.scalar(select(func.count()).select_from(Subject)):
                    raise CliError(
                        f"数据库已有数据，但密钥文件 {cfg.key_file} 不存在；"
                        "请从备份恢复密钥文件（新建密钥将使数据无法解密）",
                        f"the database holds data but the key file {cfg.key_file} is missing: "
                        "restore it from its backup (a new key file could not decrypt the data)",
                    )
        ring, created = KeyRing.load_or_create(cfg.key_file)
        if created:
            echo(f"已创建密钥文件 / key file created: {cfg.key_file} (mode 600)")
            echo("请将密钥文件与数据库分开备份 / back the key file up separately from the database")
        else:
            echo(f"密钥文件已存在，保持不变 / key file exists, kept: {cfg.key_file}")
            _check_key_file_mode(cfg.key_file)
        _migrate().upgrade(cfg.database_url)
        after, _ = revisions(db)
        if current == after:
            echo(f"数据库已是最新版本 / database already at head: {', '.join(sorted(after))}")
        else:
            echo(f"数据库已升级 / database upgraded: {', '.join(sorted(current)) or '(empty)'} -> "
                 f"{', '.join(sorted(after))}")
        generated = created_admin = False
        with db.session() as s:
            existing = s.scalars(select(User.username).where(User.role == "admin").order_by(User.id)).first()
            if existing is not None:
                echo(f"已有管理员账户 {existing}，未新建 / "
                     f"an administrator already exists ({existing}); none created")
                if admin_password_stdin:
                    warn("未使用标准输入中的密码 / the password on standard input was not used")
            else:
                if password is None:
                    password, generated = random_password(), True
                add_user(s, username=admin_user, password=password, role="admin", actor=cli_actor(),
                         display_name="平台管理员 / administrator")
                created_admin = True
        catalog = load_default_catalog(db)
        if catalog is not None:
            echo(f"信息目录 / catalog: {catalog.get('created', 0)} items added, "
                 f"{catalog.get('unchanged', 0)} unchanged")
        for label, counts in load_default_rules(db).items():
            echo(f"{label}: {counts.get('created', 0)} added, "
                 f"{counts.get('unchanged', 0) + counts.get('kept', 0)} unchanged")
        if created_admin:  # after the commit
            echo(f"已创建管理员 / administrator created: {admin_user}")
            if generated:
                echo("初始密码只显示这一次，请妥善保管 / the initial password is shown only this once:")
                echo(password or "")
    finally:
        db.dispose()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """把数据库升级到最新版本 / migrate the database to the head revision."""
    cfg = settings()
    with database(cfg, require_head=False, create=True) as db:
        before, head = revisions(db)
        _migrate().upgrade(cfg.database_url)
        after, _ = revisions(db)
    if before == after:
        echo(f"数据库已是最新版本 / database already at head: {', '.join(sorted(after))}")
    else:
        echo(f"数据库已升级 / database upgraded: {', '.join(sorted(before)) or '(empty)'} -> "
             f"{', '.join(sorted(after))}")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="目标版本，如 0017 / the revision to go back to, e.g. 0017")],
) -> None:
    """把数据库降级到较早的版本（回退升级，先备份） / migrate the database down to an earlier revision.

    用本版本的软件运行，再安装旧版本 / run it with this version's software, then install the older one.
    """
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    cfg = settings()
    with database(cfg, require_head=False) as db:
        before, head = revisions(db)
        if not before:
            raise CliError("数据库尚未初始化，请先运行 `xinyong init`",
                           "the database is not initialised: run `xinyong init` first")
        script = ScriptDirectory.from_config(_migrate().alembic_config())
        try:
            older = {r.revision for cur in before for r in script.iterate_revisions(cur, "base")} - before
            known = script.get_revision(revision) is not None
        except CommandError:
            known = False
        if not known:
            raise CliError(f"没有版本 {revision}（xinyong db current 显示已有版本）",
                           f"no revision {revision} (see xinyong db current)")
        if revision not in older:
            cur = ", ".join(sorted(before))
            raise CliError(f"版本 {revision} 不早于数据库当前版本 {cur}",
                           f"revision {revision} is not older than the database's {cur}")
        # 0019's downgrade decrypts every ID number: the key file (a missing one refused with its
        # message, before anything changes, if there are people), and it stops, changing nothing, if a
        # number does not decrypt.
        with db.engine.connect() as conn:
            people = conn.execute(text("SELECT 1 FROM subjects LIMIT 1")).first() is not None
        ring = load_ring(cfg) if people or cfg.key_file.exists() else None
        _migrate().downgrade(revision, cfg.database_url, key_ring=ring)
        after, _ = revisions(db)
    echo(f"数据库已降级 / database downgraded: {', '.join(sorted(before))} -> {', '.join(sorted(after))}")
    echo("现在可以安装该版本的软件；升级回来：xinyong db upgrade / "
         "install the software of that revision now; to come back: xinyong db upgrade")


@db_app.command("current")
def db_current() -> None:
    """显示数据库当前版本与最新版本（落后时退出码为 1） / show current vs head revision (exit 1 if behind)."""
    cfg = settings()
    with database(cfg, require_head=False) as db:
        current, head = revisions(db)
    echo(f"数据库 / database: {_safe_url(cfg.database_url)}")
    echo(f"当前版本 / current: {', '.join(sorted(current)) or '(none / 未初始化)'}")
    echo(f"最新版本 / head:    {', '.join(sorted(head))}")
    if current == head:
        echo("数据库已是最新版本 / up to date")
    else:
        echo("数据库需要升级，请运行 `xinyong db upgrade` / the database needs `xinyong db upgrade`")
        raise typer.Exit(1)


# ---- serve --------------------------------------------------------------------------------------

_logging_configured = False


def _configure_logging() -> None:
    global _logging_configured
    if not _logging_configured:
        from xinyong import logging_setup

        logging_setup.configure()
        _logging_configured = True


def create_served_app() -> Any:
    """The uvicorn factory: ``xinyong.app.create_app()`` after configuring logging in *this* process,
    so that every worker (a separate process when ``--workers`` > 1) logs through the safe formatter,
    with the runtime's settings (``xinyong.runtime``) and its start-up heap frozen."""
    import logging

    from xinyong import runtime
    from xinyong.app import create_app

    _configure_logging()
    runtime.configure_gc()  # after the logging: a bad XINYONG_GC_THRESHOLD0 is warned about through it
    if os.environ.get(_ACCESS_LOG_ENV) == "off":  # ``serve --no-access-log``: after our logging setup,
        access = logging.getLogger("uvicorn.access")  # which would route uvicorn's access log again
        access.handlers[:] = []
        access.propagate = False
    app = create_app()
    runtime.freeze_start_up_heap()
    return app


_ACCESS_LOG_ENV = "XINYONG_ACCESS_LOG"  # tells the worker processes what ``serve`` was asked


def run_server(cfg: Settings, *, host: str, port: int, workers: int, access_log: bool = True) -> None:
    import uvicorn

    load_ring(cfg)  # refuses with a clear message if the key file is missing or malformed; warns on its mode
    with database(cfg):  # refuses unless reachable and migrated to head
        pass
    _configure_logging()
    if host not in ("127.0.0.1", "localhost", "::1") and not cfg.secure_cookies:
        warn("开发模式下 Cookie 不带 Secure 标志；对外服务请设 XINYONG_ENVIRONMENT=production 并使用 HTTPS"
             " / in development mode cookies are not Secure: set XINYONG_ENVIRONMENT=production behind HTTPS")
    echo(f"xinyong {__version__} 正在监听 / listening on http://{host}:{port}/ (workers: {workers})")
    os.environ[_ACCESS_LOG_ENV] = "on" if access_log else "off"
    uvicorn.run("xinyong.cli:create_served_app", factory=True, host=host, port=port, workers=workers,
                log_config=None, server_header=False, access_log=access_log)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="监听地址 / address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="端口 / port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="工作进程数 / worker processes")] = 1,
    access_log: Annotated[bool, typer.Option(
        "--access-log/--no-access-log",
        help="每个请求一行访问日志（高负载时可关闭，审计日志不受影响） / one log line per request "
             "(turn off under heavy load; the audit log is unaffected)")] = True,
) -> None:
    """启动网站与 API（uvicorn） / serve the web pages and the API (uvicorn)."""
    run_server(settings(), host=host, port=port, workers=workers, access_log=access_log)


# ---- departments ---------------------------------------------------------------------------------

@dept_app.command("add")
def dept_add(
    code: Annotated[str, typer.Argument(help="简短代码，如 scjg / short code, e.g. scjg")],
    name: Annotated[str, typer.Argument(help="中文名称 / name, e.g. 区市场监管局")],
    name_en: Annotated[str | None, typer.Option("--name-en", help="英文名称 / English name")] = None,
    kind: Annotated[str, typer.Option("--kind", help="department | institution")] = "department",
) -> None:
    """新增部门或机构 / add a department or an institution."""
    from xinyong.auth.service import AuthError, add_department

    cfg = settings()
    try:
        with database(cfg) as db, db.session() as s:
            dept = add_department(s, code=code, name=name, name_en=name_en, kind=kind, actor=cli_actor())
            dept_id, dept_code, dept_name = dept.id, dept.code, dept.name
    except AuthError as exc:
        _record_failed_input(cfg, "department.create", exc, department=code[:32], kind=kind)
        raise
    echo(f"已新增 / added: #{dept_id} {dept_code} {dept_name} ({kind})")


def _record_failed_input(cfg: Settings, action: str, exc: Exception, *, field: str | None = None,
                         **details: Any) -> None:
    """A change refused for its input leaves one ``failed`` entry, as on the pages and the API
    (``auth.service.record_failed_input``); the refusal itself is what the command reports."""
    from xinyong.auth.service import record_failed_input

    try:
        with database(cfg) as db, db.session() as s:
            record_failed_input(s, actor=cli_actor(), action=action, code=getattr(exc, "code", "invalid"),
                                field=field or getattr(exc, "field", None), **details)
    except CliError:  # no database to write to: the refusal is reported all the same
        pass


@dept_app.command("list")
def dept_list() -> None:
    """列出部门与机构 / list departments and institutions."""
    from xinyong.auth.service import list_departments

    with database(settings()) as db, db.session(write=False) as s:
        rows = [[str(d.id), d.code, d.kind, "active" if d.active else "inactive", d.name, d.name_en or ""]
                for d in list_departments(s)]
    if not rows:
        echo("尚无部门 / no departments yet")
        return
    _table(rows, ["id", "code", "kind", "status", "名称", "name"])


@dept_app.command("deactivate")
def dept_deactivate(
    code: Annotated[str, typer.Argument(help="部门或机构代码 / department code")],
    reason: Annotated[str, typer.Option("--reason", help="停用原因（1至500字，记入审计日志），如机构撤并 / "
                                                         "why (1-500 characters, audited), e.g. merged")],
) -> None:
    """停用部门：其用户立即退出且不能登录，其 API 密钥暂停（不吊销） / deactivate a department: its users are
    logged out and cannot sign in, its API keys are refused (not revoked)."""
    from xinyong.auth.service import AuthError, deactivate_department, get_department

    with database(settings()) as db, db.session() as s:
        try:
            dept = get_department(s, code.strip())
            counts = deactivate_department(s, department=dept, reason=reason, actor=cli_actor())
        except AuthError as exc:
            _record_state_refused(s, "department.deactivate", exc, code)
            raise
        dept_code = dept.code
    echo(f"已停用 / deactivated: {dept_code} — 结束会话 / sessions ended: {counts['sessions_ended']}, "
         f"暂停密钥 / keys suspended: {counts['keys_suspended']}")


@dept_app.command("activate")
def dept_activate(code: Annotated[str, typer.Argument(help="部门或机构代码 / department code")]) -> None:
    """重新启用部门：其用户可再次登录，未吊销的 API 密钥恢复可用 / reactivate a department: its users may sign
    in again and its unrevoked API keys work again."""
    from xinyong.auth.service import AuthError, get_department, reactivate_department

    with database(settings()) as db, db.session() as s:
        try:
            dept = get_department(s, code.strip())
            counts = reactivate_department(s, department=dept, actor=cli_actor())
        except AuthError as exc:
            _record_state_refused(s, "department.reactivate", exc, code)
            raise
        dept_code = dept.code
    echo(f"已重新启用 / reactivated: {dept_code} — 恢复密钥 / keys restored: {counts['keys_restored']}")


def _record_state_refused(s: Any, action: str, exc: Any, code: str) -> None:
    """A refused deactivation or reactivation leaves its entry, as on the page and the API
    (``auth.service.record_state_refused``); the refusal itself is what the command reports."""
    from xinyong.auth.models import Department
    from xinyong.auth.service import record_state_refused

    s.rollback()
    dept_id = s.scalar(select(Department.id).where(Department.code == code.strip()))
    record_state_refused(s, actor=cli_actor(), action=action, code=exc.code, department=code.strip(),
                         department_id=dept_id, field="reason" if exc.field == "reason" else None, via="cli")


# ---- API keys ---------------------------------------------------------------------------------------

@apikey_app.command("create")
def apikey_create(
    dept: Annotated[str, typer.Option("--dept", help="部门代码 / department code")],
    name: Annotated[str, typer.Option("--name", help="密钥名称（业务系统名） / key name (its system)")],
) -> None:
    """创建 API 密钥，只显示一次，单独占最后一行 / create a key: printed once, alone on the last line."""
    from xinyong.auth.service import AuthError, create_api_key, get_department

    cfg = settings()
    try:
        with database(cfg) as db, db.session() as s:
            department = get_department(s, dept)
            secret, key = create_api_key(s, department=department, name=name, actor=cli_actor())
            key_id, prefix = key.id, key.prefix
    except AuthError as exc:
        _record_failed_input(cfg, "apikey.create", exc, department=dept[:32])
        raise
    echo(f"已为 {dept} 创建 API 密钥 #{key_id}（前缀 {prefix}），只显示这一次 / "
         f"API key #{key_id} (prefix {prefix}) created for {dept}; shown only this once:")
    echo(secret)


@apikey_app.command("list")
def apikey_list(
    dept: Annotated[str | None, typer.Option("--dept", help="只列出该部门 / only this department")] = None,
) -> None:
    """列出 API 密钥（不含密钥本身） / list API keys (never the secrets)."""
    from xinyong.auth.models import ApiKey, Department
    from xinyong.auth.service import get_department, key_state

    with database(settings()) as db, db.session(write=False) as s:
        stmt = (select(ApiKey, Department.code, Department.active)
                .join(Department, Department.id == ApiKey.department_id).order_by(ApiKey.id))
        if dept:
            stmt = stmt.where(ApiKey.department_id == get_department(s, dept).id)
        rows = [[str(k.id), code, k.prefix, key_state(k.revoked_at, dept_active),
                 _fmt_time(k.created_at), _fmt_time(k.last_used_at), k.name]
                for k, code, dept_active in s.execute(stmt)]
    if not rows:
        echo("没有 API 密钥 / no API keys")
        return
    _table(rows, ["id", "dept", "prefix", "status", "created (UTC)", "last used", "name"])


@apikey_app.command("revoke")
def apikey_revoke(key_id: Annotated[int, typer.Argument(metavar="ID", help="密钥编号 / key id")]) -> None:
    """吊销 API 密钥（下一次请求即生效） / revoke an API key (effective on the next request)."""
    from xinyong.auth.models import ApiKey
    from xinyong.auth.service import AuthError, record_revoke_refused, revoke_api_key

    with database(settings()) as db, db.session() as s:
        key = s.get(ApiKey, key_id)
        if key is None:
            raise CliError(f"API 密钥 #{key_id} 不存在", f"API key #{key_id} does not exist")
        try:
            revoke_api_key(s, key=key, actor=cli_actor())
        except AuthError as exc:  # already revoked: registered, as the API's 409 and the pages' are
            record_revoke_refused(s, actor=cli_actor(), key=key, code=exc.code, via="cli")
            raise
        prefix = key.prefix
    echo(f"已吊销 / revoked: API key #{key_id} (prefix {prefix})")


# ---- users ----------------------------------------------------------------------------------------

@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="用户名 / username")],
    role: Annotated[str, typer.Option("--role", help="admin | officer | institution | citizen | auditor")],
    dept: Annotated[str | None, typer.Option(
        "--dept", help="部门或机构代码（officer、institution 必填） / department code")] = None,
    id_number_stdin: Annotated[bool, typer.Option(
        "--id-number-stdin", help="公民：身份证号码在标准输入第一行 / citizen: ID number, first stdin line")
    ] = False,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="密码在标准输入（身份证号码之后） / password on stdin (after the ID number)")
    ] = False,
    name: Annotated[str | None, typer.Option(
        "--name", help="公民姓名：登记尚未登记的公民（可选） / citizen's name: registers a person not yet registered (optional)")] = None,
    display_name: Annotated[str | None, typer.Option(
        "--display-name", help="显示名称 / display name")] = None,
) -> None:
    """新增用户；公民账户绑定身份证号码 / add a user; a citizen account is bound to an ID number."""
    from xinyong.auth.service import AuthError, typed_user_name
    from xinyong.privacy import identity
    from xinyong.privacy.vault import Vault

    cfg = settings()
    if role != "citizen" and (id_number_stdin or name):
        raise CliError("只有公民账户绑定身份证号码和姓名",
                       "only citizen accounts take an ID number and a name")
    id_number: str | None = None
    if role == "citizen" and id_number_stdin and password_stdin:
        id_number, password = read_stdin_lines(2, "身份证号码和密码", "ID number and the password")
    else:
        if role == "citizen":
            id_number = (
                read_stdin_lines(1, "身份证号码", "ID number")[0] if id_number_stdin
                else _prompt_secret("身份证号码", "ID number", flag="--id-number-stdin", confirm=False))
        password = (read_stdin_lines(1, "密码", "password")[0] if password_stdin
                    else _prompt_secret("密码", "password", flag="--password-stdin", confirm=True))
    vault = Vault(load_ring(cfg)) if role == "citizen" else None
    try:
        _add_user(cfg, vault, username=username, role=role, dept=dept, id_number=id_number, password=password,
                  name=name, display_name=display_name)
    except identity.InvalidIdNumber as exc:
        _record_failed_input(cfg, "user.create", exc, field="id_number", username=typed_user_name(username),
                             role=role)
        raise
    except AuthError as exc:
        _record_failed_input(cfg, "user.create", exc, username=typed_user_name(username), role=role)
        raise


def _add_user(cfg: Settings, vault: Any, *, username: str, role: str, dept: str | None, id_number: str | None,
              password: str, name: str | None, display_name: str | None) -> None:
    from dataclasses import replace

    from xinyong.auth.service import add_user, check_password_strength, citizen_binding, get_department
    from xinyong.privacy import identity
    from xinyong.subjects.service import register

    if id_number is not None:
        identity.check(id_number)  # refuse an invalid number before touching anything
    check_password_strength(password)
    actor = cli_actor()
    created = False
    with database(cfg) as db, db.session() as s:
        department_id = get_department(s, dept).id if dept else None
        citizen = None
        if id_number is not None and vault is not None:
            citizen = citizen_binding(s, vault, id_number)
            if name:  # register the person (or check the name against the one registered)
                subject, created = register(s, vault=vault, id_number=id_number, name=name, actor=actor)
                citizen = replace(citizen, subject_id=subject.id)
        user = add_user(s, username=username, password=password, role=role, actor=actor,
                        department_id=department_id, citizen=citizen, display_name=display_name)
        user_id = user.id
    if created:  # said once committed: a refused account registers no one (the session rolls back)
        echo("已登记信用主体 / credit subject registered")
    bound = f", 绑定 / bound to {citizen.id_masked}" if citizen else ""
    echo(f"已新增用户 / user added: #{user_id} {username} ({role}{', ' + dept if dept else ''}{bound})")
    if citizen is not None and citizen.subject_id is None:
        echo("平台尚无该身份证号码的信用信息：账户已绑定该号码，平台登记此人后自动关联 / the platform holds no credit "
             "information for this ID number yet: the account is bound to the number and linked once the person "
             "is registered")


@user_app.command("disable")
def user_disable(username: Annotated[str, typer.Argument(help="用户名 / username")]) -> None:
    """停用账户并结束其所有会话 / disable an account and end its sessions."""
    _set_user_active(username, active=False)


@user_app.command("enable")
def user_enable(username: Annotated[str, typer.Argument(help="用户名 / username")]) -> None:
    """重新启用账户 / enable a disabled account again."""
    _set_user_active(username, active=True)


def _set_user_active(username: str, *, active: bool) -> None:
    from xinyong.auth.models import User
    from xinyong.auth.service import set_user_active

    with database(settings()) as db, db.session() as s:
        user = s.scalar(select(User).where(User.username == username.strip()))
        if user is None:
            raise CliError(f"用户 {username} 不存在", f"user {username} does not exist")
        if user.active == active:
            echo(f"账户已是启用状态 / already enabled: {username}" if active
                 else f"账户已是停用状态 / already disabled: {username}")
            return
        set_user_active(s, user=user, active=active, actor=cli_actor())
    echo(f"已启用 / enabled: {username}" if active else f"已停用 / disabled: {username}")


@user_app.command("password")
def user_password(
    username: Annotated[str, typer.Argument(help="用户名 / username")],
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="新密码在标准输入 / the new password on stdin")] = False,
) -> None:
    """设置新密码（结束其会话、解除登录锁定） / set a new password (ends its sessions, lifts a login lock)."""
    from xinyong.auth.models import User
    from xinyong.auth.service import AuthError, check_password_strength, set_password, typed_user_name

    cfg = settings()
    password = (read_stdin_lines(1, "密码", "password")[0] if password_stdin
                else _prompt_secret("新密码", "new password", flag="--password-stdin", confirm=True))
    try:
        check_password_strength(password)
    except AuthError as exc:
        _record_failed_input(cfg, "user.password", exc, username=typed_user_name(username))
        raise
    with database(cfg) as db, db.session() as s:
        user = s.scalar(select(User).where(User.username == username.strip()))
        if user is None:
            raise CliError(f"用户 {username} 不存在", f"user {username} does not exist")
        set_password(s, user=user, password=password, actor=cli_actor())
    echo(f"已设置新密码，其会话已结束 / password set, sessions ended: {username}")


# ---- keys -------------------------------------------------------------------------------------------

def _reseal_other_ciphertexts(session: Session, *, vault: Any) -> dict[str, int]:
    """Every other table holding ciphertext, resealed under the active key: the kept files of
    unfinished imports (``import_files``) and the batch comparisons' sealed files
    (``compare_files``: results, and the uploads of unfinished jobs). Counts per table."""
    counts: dict[str, int] = {}
    if (imports := _optional("xinyong.imports.service")) is not None:
        counts["import_files"] = imports.reseal_files(session, vault=vault)
    if (compare := _optional("xinyong.measures.batch")) is not None:
        counts["compare_files"] = compare.reseal_files(session, vault=vault)
    return counts


def _other_ciphertext_keys(session: Session, active: str) -> dict[str, int]:
    """Rows of those tables still under a key other than ``active``, per key (such a key is kept)."""
    still: dict[str, int] = {}
    for name in ("xinyong.imports.service", "xinyong.measures.batch"):
        if (module := _optional(name)) is not None:
            for kid, n in module.sealed_key_counts(session, active).items():
                still[kid] = still.get(kid, 0) + n
    return still


def _reseal_subjects(session: Session, *, vault: Any, batch_size: int) -> dict[str, int]:
    """Re-encrypt every subject not under the active key, in batches. Returns counts per old key id."""
    from xinyong.subjects.models import Subject

    table = Subject.__table__
    stmt = (update(table).where(table.c.id == bindparam("_id"))
            .values(id_cipher=bindparam("_id_cipher"), name_cipher=bindparam("_name_cipher"),
                    key_id=bindparam("_key_id"), updated_at=table.c.updated_at))  # not a content change
    active = vault.cipher.active_key_id
    counts: dict[str, int] = {}
    after = 0
    while True:
        rows = session.execute(
            select(Subject.id, Subject.id_bidx, Subject.id_cipher, Subject.name_cipher, Subject.key_id)
            .where(Subject.key_id != active, Subject.id > after).order_by(Subject.id).limit(batch_size)
        ).all()
        if not rows:
            return counts
        params = []
        for sid, bidx, id_cipher, name_cipher, kid in rows:
            sealed = vault.reseal(bidx, id_cipher, name_cipher, kid)
            params.append({"_id": sid, "_id_cipher": sealed.id_cipher, "_name_cipher": sealed.name_cipher,
                           "_key_id": sealed.key_id})
            counts[kid] = counts.get(kid, 0) + 1
        session.connection().execute(stmt, params)
        after = rows[-1][0]


@keys_app.command("rotate")
def keys_rotate(
    batch_size: Annotated[int, typer.Option(
        "--batch-size", min=1, help="每批重新加密的行数 / rows per batch")] = 1000,
) -> None:
    """新增加密密钥，重新加密全部数据，提交成功后再从密钥文件中删除旧密钥 / rotate the encryption key."""
    from xinyong.privacy.vault import Vault
    from xinyong.subjects.models import Subject

    cfg = settings()
    ring = load_ring(cfg)
    with database(cfg) as db:
        old = sorted(ring.encryption_keys)
        new_kid = ring.add_encryption_key()
        ring.save(cfg.key_file)  # the new key is on disk before anything is encrypted with it
        # Running servers adopt it on their next audit-sealer round (``Vault.refresh_keys``); until then
        # they write under an old key and cannot read the new one. So nothing is re-encrypted before
        # those rounds (a server would have read no one from the commit to its round: 500s), and the
        # final check for rows under an old key comes after them.
        adopted_by = time.monotonic() + 2 * cfg.audit_seal_interval_seconds + 1
        echo(f"新密钥已写入密钥文件 / new key written to the key file: {new_kid} "
             f"(previous: {', '.join(old)})")
        if (wait := adopted_by - time.monotonic()) > 0 and cfg.audit_seal_interval_seconds > 0:
            echo(f"等待运行中的服务读取新密钥 / waiting {wait:.1f} s for running servers to read the new key")
            time.sleep(wait)
        vault = Vault(ring)
        total = 0
        resealed: dict[str, int] = {}
        still: dict[str, int] = {}
        for attempt in range(1, 4):
            with db.session() as s:
                counts = _reseal_subjects(s, vault=vault, batch_size=batch_size)
                total += sum(counts.values())
                files = _reseal_other_ciphertexts(s, vault=vault)
                if attempt == 1 or counts or any(files.values()):
                    record(s, actor=cli_actor(), action="keys.rotate", object_type="keyring",
                           object_id=new_kid,
                           details={"new_key": new_kid, "previous_keys": old, "pass": attempt,
                                    "subjects": sum(counts.values()), "by_key": counts,
                                    "import_files": files.get("import_files", 0),
                                    "compare_files": files.get("compare_files", 0)})
                for table, n in files.items():
                    resealed[table] = resealed.get(table, 0) + n
            # Committed. Anything still under an old key was written meanwhile by another process.
            with db.session() as s:
                still = {kid: n for kid, n in s.execute(
                    select(Subject.key_id, func.count()).where(Subject.key_id != new_kid)
                    .group_by(Subject.key_id))}
                for kid, n in _other_ciphertext_keys(s, new_kid).items():
                    still[kid] = still.get(kid, 0) + n
            if not still:
                break
        retired = [kid for kid in old if kid not in still]
        for kid in retired:
            ring.retire_encryption_key(kid)
        ring.save(cfg.key_file)
    echo(f"已重新加密 / re-encrypted: {total} subjects")
    echo(f"已重新加密的文件 / re-encrypted files: {resealed.get('import_files', 0)} import, "
         f"{resealed.get('compare_files', 0)} batch comparison")
    echo(f"已从密钥文件删除旧密钥 / retired from the key file: {', '.join(retired) or '-'}")
    if still:
        warn(f"仍有数据使用旧密钥，已保留这些密钥 / rows still use old keys, which were kept: {still}")
    echo("请重启正在运行的服务并备份新的密钥文件；旧的数据库备份需要旧的密钥文件 /")
    echo("restart running servers and back up the new key file; older database backups need the older one")


@keys_app.command("show")
def keys_show() -> None:
    """显示密钥编号（从不显示密钥内容） / show key ids (never key material)."""
    cfg = settings()
    ring = load_ring(cfg)
    echo(f"密钥文件 / key file: {cfg.key_file} (mode {_file_mode(cfg.key_file):o})")
    echo("加密密钥 / encryption keys:")
    for kid in sorted(ring.encryption_keys):
        echo(f"  {kid}{'  (当前 / active)' if kid == ring.active_encryption_key else ''}")
    echo(f"盲索引密钥 / blind-index keys: {', '.join(sorted(ring.index_keys))}")
    fingerprint = hashlib.sha256(ring.audit_public_key_b64().encode()).hexdigest()[:16]
    echo(f"审计检查点签名公钥指纹 / audit checkpoint public key fingerprint: {fingerprint}")


# ---- demo -------------------------------------------------------------------------------------------

def _demo_credentials_file(cfg: Settings) -> Path:
    return cfg.key_file.parent / "demo-credentials.txt"


def _write_private(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(content)
    os.chmod(path, 0o600)


def _reset_demo(cfg: Settings) -> None:
    path = _sqlite_file(cfg.database_url)
    if path is None:
        raise CliError("--reset 只能删除 SQLite 演示数据库；请手工清空其他数据库",
                       "--reset deletes only a SQLite demo database; empty other databases by hand")
    removed = []
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), _demo_credentials_file(cfg),
              *(sorted(cfg.checkpoint_dir.glob("checkpoint-*.json")) if cfg.checkpoint_dir.exists() else [])):
        if p.exists():
            p.unlink()
            removed.append(p.name)
    if removed:
        echo(f"已删除旧的演示数据 / removed the previous demo: {', '.join(removed[:6])}"
             f"{' …' if len(removed) > 6 else ''}")


def _demo_text(info: Any, host: str, port: int) -> str:
    from xinyong.demo import HEPING_DEPARTMENTS

    names = {code: name for code, name, _ in HEPING_DEPARTMENTS}
    lines = [
        f"演示账户 / demo accounts — http://{host}:{port}/",
        "",
    ]
    rows = [[u.username, u.password, u.role, u.department or "-", u.note] for u in info.users]
    header = ["username", "password", "role", "dept", "note"]
    widths = [max(_width(r[i]) for r in [header, *rows]) for i in range(4)]
    for r in [header, *rows]:
        lines.append("  ".join(c + " " * (w - _width(c)) for c, w in zip(r[:4], widths, strict=True))
                     + "  " + r[4])
    code = info.api_key_department
    lines += [
        "",
        f"{names.get(code, code)} ({code}) 的 API 密钥 / API key (Authorization: Bearer …):",
        info.api_key,
        "",
    ]
    return "\n".join(lines)


@app.command()
def demo(
    people: Annotated[int, typer.Option("--people", min=1, help="合成公民人数 / synthetic citizens")] = 2000,
    no_serve: Annotated[bool, typer.Option(
        "--no-serve", help="只建数据，不启动服务 / build only, don't serve")] = False,
    host: Annotated[str, typer.Option(help="监听地址 / address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="端口 / port")] = 8000,
    reset: Annotated[bool, typer.Option(
        "--reset", help="删除并重建演示数据库 / delete and rebuild the demo database")] = False,
    seed: Annotated[int, typer.Option("--seed", help="随机种子 / random seed")] = 20180519,  # = DEFAULT_SEED
) -> None:
    """建立演示辖区并启动服务 / build a demo district and serve it.

    和平区的部门、各角色用户、区市场监管局的 API 密钥、合成公民（SQLite 默认数据库）。
    Heping District's departments, a user per role, an API key, synthetic citizens.
    """
    from xinyong.audit.service import seal_pending, write_checkpoint
    from xinyong.auth.models import Department
    from xinyong.demo import build_demo
    from xinyong.privacy.keys import KeyRing
    from xinyong.privacy.vault import Vault
    from xinyong.subjects.models import Subject

    cfg = settings()
    if reset:
        _reset_demo(cfg)
    existed = _sqlite_exists(cfg)
    with database(cfg, require_head=False, create=True) as db:
        _protect_new_sqlite_file(cfg, existed)
        _migrate().upgrade(cfg.database_url)
        with db.session(write=False) as s:
            has_data = bool(s.scalar(select(func.count()).select_from(Department))
                            or s.scalar(select(func.count()).select_from(Subject)))
        if has_data and not cfg.key_file.exists():
            raise CliError(f"数据库已有数据，但密钥文件 {cfg.key_file} 不存在；请恢复密钥文件或使用 --reset",
                           f"the database holds data but the key file {cfg.key_file} is missing: "
                           "restore it or use --reset")
        ring, created = KeyRing.load_or_create(cfg.key_file)
        if created:
            echo(f"已创建密钥文件 / key file created: {cfg.key_file}")
        creds = _demo_credentials_file(cfg)
        if has_data:
            echo("数据库已有数据，沿用现有数据（--reset 可重建） / "
                 f"the database already holds data: reusing it (--reset rebuilds): "
                 f"{_safe_url(cfg.database_url)}")
            if creds.exists():
                echo(f"演示账户见 / demo accounts are in {creds}")
        else:
            with db.session() as s:
                info = build_demo(s, vault=Vault(ring), people=people, seed=seed)
            _write_private(creds, _demo_text(info, host, port))
            echo(f"演示数据已建立 / demo built in {info.seconds:.1f}s: {len(info.departments)} departments, "
                 f"{info.subjects} citizens, {info.memberships} key-group memberships, "
                 f"{info.students} adult students")
            rc = info.extras.get("records") or {}
            if rc:
                echo(f"信用记录 / credit records: {rc.get('created', 0)} created, {rc.get('revoked', 0)} revoked, "
                     f"{rc.get('rejected', 0)} rejected")
            echo(f"（账户与密钥另存于 / accounts and key also saved to {creds}, mode 600）")
            echo("")
            echo(_demo_text(info, host, port).rstrip("\n"))
        with db.session() as s:
            sealed = seal_pending(s)
        with db.session() as s:
            doc = write_checkpoint(s, ring=ring, directory=cfg.checkpoint_dir)
        echo(f"审计日志已封存 / audit log sealed: {sealed} new entries, head seq {doc['seq']}")
    if not no_serve:
        run_server(cfg, host=host, port=port, workers=1)


# ---- sub-apps of other domains ------------------------------------------------------------------

def _optional(module: str) -> Any:
    """A domain's CLI module, or None while that domain is not part of this build."""
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return None


def guard_day(db: Any, day: date | None, *, allow_future: bool, action: str, given: str | None) -> None:
    """The commands that act as of ``--today`` (maintain, lists refresh|expire, rescore): a day after
    the district's today is refused, registered under ``action`` (failed, ``future_day``, ``via: cli``),
    unless ``allow_future`` — the deliberate rehearsal on a copy, warned about and registered
    (``maintain.future_day``, with the command's action). :func:`maintenance.check_day` is the rule."""
    from xinyong.audit.service import record, record_refusal
    from xinyong.cli_support import fail
    from xinyong.maintenance import FutureDay, check_day

    district_today = clock.today()
    try:
        check_day(day, allow_future=allow_future)
    except FutureDay as exc:  # registered, as the commands' other refusals are
        with db.session() as s:
            record_refusal(s, actor=cli_actor(), action=action, outcome="failed",
                           details={"code": exc.code, "field": "--today", "today": given,
                                    "district_today": district_today.isoformat(), "via": "cli"})
        fail(exc.message)
    if day is not None and day > district_today:  # the rehearsal, deliberate: on the record
        warn(f"按 {day.isoformat()}（晚于今天 {district_today.isoformat()}）运行，结果不可撤销 / running as of "
             f"{day.isoformat()}, after today ({district_today.isoformat()}): irreversible")
        with db.session() as s:
            record(s, actor=cli_actor(), action="maintain.future_day",
                   details={"today": day.isoformat(), "district_today": district_today.isoformat(),
                            "command": action, "via": "cli"})


def maintain(today: str = typer.Option(None, "--today", help="按此日期运行（YYYY-MM-DD），默认今天；不得晚于今天 / run as of this date; default today; not after today"),
             allow_future: bool = typer.Option(False, "--allow-future",
                                               help="允许晚于今天的日期：仅用于在数据库副本上演练，结果不可撤销 / allow a day after today: only to rehearse on a copy of the database; irreversible"),
             ) -> None:
    """每日维护 / daily upkeep: records' display periods and retention, list expiry and red-list
    rules, rescoring when a ruleset takes effect or contributions expire, deleting the uploads of
    import and comparison jobs left unfinished for 30 days. Safe to run twice. A --today after the
    district's today is refused (audited) unless --allow-future."""
    from datetime import date

    from xinyong.cli_support import fail, open_database
    from xinyong.maintenance import run_daily

    try:
        day = date.fromisoformat(today) if today else None
    except ValueError:
        fail(f"--today 应为 YYYY-MM-DD / --today must be YYYY-MM-DD: {today!r}")
    with open_database() as db:
        guard_day(db, day, allow_future=allow_future, action="maintain.run", given=today)
        results = run_daily(db, today=day, allow_future=allow_future)
    rec = results["records"]
    echo(f"展示期满 / display ended: {rec.get('expired', 0)}")
    echo(f"已归档 / archived: {rec.get('archived', 0)}")
    gone = results.get("files", {})
    if gone.get("imports") or gone.get("comparisons"):
        echo(f"未继续任务的上传文件已删除（保存期满） / unfinished jobs' uploads deleted: imports {gone.get('imports', 0)}, "
             f"comparisons {gone.get('comparisons', 0)}")
    for step in ("lists", "scoring"):
        summary = ", ".join(f"{k}={v}" for k, v in results[step].items() if not isinstance(v, (dict, list)))
        echo(f"{step}: {summary}")
        if step == "lists":  # the rule-based red lists' refresh, as `xinyong lists refresh` prints it
            for code, counts in (results[step].get("refreshed") or {}).items():
                echo(f"  {code}\t列入 / added: {counts['added']}\t移出 / removed: {counts['removed']}")


def _add_domain_apps() -> None:
    from xinyong.audit.cli import app as audit_app

    app.add_typer(audit_app, name="audit")
    if (catalog := _optional("xinyong.catalog.cli")) is not None:
        app.add_typer(catalog.app, name="catalog")
    if (records := _optional("xinyong.records.cli")) is not None:
        app.command("maintain")(maintain)
        app.add_typer(records.app, name="records")
    if (imports := _optional("xinyong.imports.cli")) is not None:
        app.command("import")(imports.import_command)
        app.add_typer(imports.app, name="imports")
    if (measures := _optional("xinyong.measures.cli")) is not None:
        app.add_typer(measures.checks_app, name="checks")
        app.add_typer(measures.measures_app, name="measures")
    if (lists := _optional("xinyong.lists.cli")) is not None:
        app.add_typer(lists.app, name="lists")
    if (holidays := _optional("xinyong.holidays.cli")) is not None:
        app.add_typer(holidays.app, name="calendar")
    if (scoring := _optional("xinyong.scoring.cli")) is not None:
        app.command("rescore")(scoring.rescore)
        app.add_typer(scoring.app, name="scoring")


_add_domain_apps()


if __name__ == "__main__":  # python -m xinyong.cli, as the xinyong command
    main()
