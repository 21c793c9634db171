"""Helpers for the web-shell and admin-console tests."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from xinyong.audit.models import AuditEntry

ROLE_USERS = {
    "admin": "admin",
    "officer": "officer_a",
    "institution": "bank",
    "citizen": "zhangsan",
    "auditor": "auditor",
}


def audit(db: Any, action: str, **where: Any) -> list[AuditEntry]:
    """Committed audit entries with this action (and column filters), oldest first."""
    with db.session() as s:
        stmt = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        for column, value in where.items():
            stmt = stmt.where(getattr(AuditEntry, column) == value)
        return list(s.scalars(stmt))


def hidden(html: str, name: str) -> str | None:
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    return m.group(1) if m else None


@pytest.fixture
def other_client(app: Any) -> Iterator[TestClient]:
    """A second browser on the same application and database."""
    with TestClient(app, base_url="https://testserver") as c:
        yield c


@pytest.fixture
def loose_client(app: Any) -> Iterator[TestClient]:
    """A browser that sees the 500 page instead of the server's exception."""
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
        yield c
