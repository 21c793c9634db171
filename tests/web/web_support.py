"""Helpers shared by the web tests (plain functions, imported as ``web_support``)."""

from __future__ import annotations

import re
from typing import Any

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
    """The value of the first input with this name."""
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    return m.group(1) if m else None


def set_cookies(response: Any) -> list[str]:
    return [v for k, v in response.headers.multi_items() if k.lower() == "set-cookie"]
