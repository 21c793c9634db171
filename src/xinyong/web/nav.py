"""The navigation bar by role: one table, read by the base layout and the home pages."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from starlette.routing import Match

from xinyong.auth.permissions import allowed
from xinyong.auth.service import Principal

AUDIT_PAGE = "/audit"
AUDIT_API = "/api/v1/audit/entries"


@dataclass(frozen=True, slots=True)
class NavItem:
    href: str
    label: str  # a message-catalog key
    hint: str | None = None  # a message-catalog key, shown on home pages


def has_page(request: Request, path: str) -> bool:
    """Whether some router answers ``GET path`` (domains add their pages as they arrive)."""
    scope = {"type": "http", "path": path, "method": "GET", "root_path": "", "headers": [],
             "query_string": b""}
    return any(r.matches(scope)[0] == Match.FULL for r in request.app.router.routes)


def audit_href(request: Request) -> str:
    """The audit domain's page once it exists; until then the JSON listing (same permission)."""
    return AUDIT_PAGE if has_page(request, AUDIT_PAGE) else AUDIT_API


# (permission, href or None for the audit link, label, hint), in display order.
_ITEMS: tuple[tuple[str, str | None, str, str | None], ...] = (
    ("departments.manage", "/admin/departments", "nav.departments", "home.admin.departments"),
    ("users.manage", "/admin/users", "nav.users", "home.admin.users"),
    ("apikeys.manage", "/admin/apikeys", "nav.apikeys", "home.admin.apikeys"),
    ("audit.read", None, "nav.audit", "home.audit"),
)


def nav_items(request: Request, principal: Principal | None) -> list[NavItem]:
    if principal is None or principal.kind != "user":
        return []
    items = [NavItem("/", "nav.home")]
    for permission, href, label, hint in _ITEMS:
        if allowed(principal.role, permission):
            items.append(NavItem(href or audit_href(request), label, hint))
    if principal.role == "officer":
        items.append(NavItem("/workspace/apikeys", "nav.workspace_keys", "home.officer.manage_keys"))
    return items
