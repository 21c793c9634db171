"""Shared FastAPI dependencies: the request's unit of work and the vault."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session

from xinyong.privacy.vault import Vault


def _session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the endpoint returns (before the response is
    sent, so a failed commit is a failed request), rolled back on any error."""
    db = request.app.state.db
    writes = request.method not in ("GET", "HEAD", "OPTIONS")
    session = (db.write_sessionmaker if writes else db.sessionmaker)()
    try:
        yield session
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
