"""Shared FastAPI dependencies: the request's unit of work and the vault."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Request
from pydantic import BeforeValidator
from sqlalchemy.orm import Session

from xinyong.privacy.vault import Vault

# GETs that never write (no audit entry, no session refresh). Every other request may write — an
# audited read of personal data is a write too — so on SQLite it takes the write lock up front
# (BEGIN IMMEDIATE): a deferred read that later writes fails at once if another connection
# committed meanwhile. PostgreSQL is unaffected by the choice.
_PURE_READ_PREFIXES = ("/healthz", "/api/docs", "/api/openapi.json", "/api/v1/catalog/items", "/login", "/lang",
                       "/api/v1/scenarios")


# A check only reads in the request's transaction; its register row is written by the process's
# group-commit writer in transactions of its own (measures/register.py), which a write lock held by
# the request would block.
_READ_THEN_HAND_OFF = ("/api/v1/checks",)
# A records push reads the key, the department and the catalog in the request's transaction, checks
# its batch (pure CPU), then writes in a transaction of its own (records/api.py): on SQLite the
# write lock is held only for the writing, and another worker's batch is written meanwhile.
_READ_THEN_WRITE = ("/api/v1/records",)


def _pure_read(request: Request) -> bool:
    if request.method == "POST" and (request.url.path in _READ_THEN_HAND_OFF or request.url.path in _READ_THEN_WRITE):
        return True
    return request.method in ("GET", "HEAD", "OPTIONS") and request.url.path.startswith(_PURE_READ_PREFIXES)


# The caller's web session in use (``auth.deps.current_principal``): its use is written last, just
# before the commit (``auth.service.touch_session``). Written first, the row stayed locked while the
# request went on and waited for other rows; an administrator's change that takes such a row and then
# the user's sessions (disabling the user, deactivating their department) was a deadlock (PostgreSQL).
TOUCH_SESSION = "xinyong.touch_session"


def _touch(session: Session, principal: object) -> None:
    from xinyong.auth.service import Principal, touch_session

    assert isinstance(principal, Principal)
    touch_session(session, principal)


def _session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the endpoint returns (before the response is
    sent, so a failed commit is a failed request), rolled back on any error."""
    db = request.app.state.db
    write = not _pure_read(request)
    session = (db.write_sessionmaker if write else db.sessionmaker)()
    try:
        if write and db.engine.dialect.name == "sqlite":
            # BEGIN IMMEDIATE here, on the thread pool: the request's async dependencies (the caller's
            # key or session, the CSRF check) query this session next on the event loop, and waiting
            # there for another request's write lock froze the loop, so the request holding the lock
            # could not finish either until the 10 s timeout (two officers at once: 503s)
            session.connection()
        yield session
        if (principal := session.info.pop(TOUCH_SESSION, None)) is not None:
            _touch(session, principal)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _vault(request: Request) -> Vault:
    return request.app.state.vault


DbSession = Annotated[Session, Depends(_session, scope="function")]
VaultDep = Annotated[Vault, Depends(_vault)]


# Every integer id in a path: bounded to the database's BIGINT range (a larger number is a 422,
# not an overflow inside the driver).
ObjectId = Annotated[int, Path(ge=1, le=9_223_372_036_854_775_807, description="Object id")]
# A number stored in a 32-bit INTEGER column (versions, small tables' ids).
SmallId = Annotated[int, Path(ge=1, le=2_147_483_647, description="Number (32-bit)")]


# An empty query parameter (``?status=&item=``, as a form or a URL template sends it) is no filter:
# ``Annotated[X | None, BlankIsNone] = None``.
BlankIsNone = BeforeValidator(lambda v: None if isinstance(v, str) and not v.strip() else v)
