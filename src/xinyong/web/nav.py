"""The navigation bar by role: one table, read by the base layout and the home pages."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from xinyong.auth.permissions import allowed
from xinyong.auth.service import Principal

AUDIT_PAGE = "/audit"  # the audit log's page (audit.views); the JSON stays at /api/v1/audit/entries


@dataclass(frozen=True, slots=True)
class NavItem:
    href: str
    label: str  # a message-catalog key
    hint: str | None = None  # a message-catalog key, shown on home pages


RECORDS_PAGE = "/workspace/records"
UPLOAD_PAGE = "/workspace/upload"
IMPORTS_PAGE = "/workspace/imports"
OWN_KEYS_PAGE = "/workspace/apikeys"
OWN_QUALITY_PAGE = "/workspace/quality"

# (permission, href, label, hint), in display order.
_ITEMS: tuple[tuple[str, str, str, str | None], ...] = (
    ("departments.manage", "/admin/departments", "nav.departments", "home.admin.departments"),
    ("users.manage", "/admin/users", "nav.users", "home.admin.users"),
    ("apikeys.manage", "/admin/apikeys", "nav.apikeys", "home.admin.apikeys"),
    ("audit.read", AUDIT_PAGE, "nav.audit", "home.audit"),
)
# The credit office's data pages, after the workspace's.
_DATA_ITEMS: tuple[tuple[str, str, str, str], ...] = (
    ("catalog.manage", "/admin/catalog", "nav.catalog", "home.catalog"),
    ("quality.read", "/admin/quality", "nav.quality", "home.quality"),
    ("lists.read", "/lists", "nav.lists", "home.lists"),
    ("scoring.manage", "/admin/scoring", "nav.scoring", "home.scoring"),
    ("scores.read", "/admin/scoring/distribution", "nav.grades", "home.grades"),
    ("self.read", "/my/score", "nav.my_score", "home.my_score"),
    ("lists.defend", "/my/lists", "nav.my_lists", "home.my_lists"),
    ("measures.manage", "/admin/measures", "nav.measures", "home.measures"),
    ("checks.read_all", "/admin/checks/feedback", "nav.feedback", "home.feedback"),
    ("calendar.manage", "/admin/calendar", "nav.calendar", "home.calendar"),
)


def nav_items(request: Request, principal: Principal | None) -> list[NavItem]:
    if principal is None or principal.kind != "user":
        return []
    role = principal.role
    items = [NavItem("/", "nav.home")]
    for permission, href, label, hint in _ITEMS:
        if allowed(role, permission):
            items.append(NavItem(href, label, hint))
    # The department workspace: records (every department's for those who read them all), files, keys.
    if allowed(role, "records.read"):
        every = allowed(role, "records.read_all")
        items.append(NavItem(RECORDS_PAGE, "nav.records_all" if every else "nav.records",
                             "home.records_all" if every else "home.records"))
    if allowed(role, "imports.use"):
        if principal.department_id is not None:
            items.append(NavItem(UPLOAD_PAGE, "nav.upload", "home.upload"))
        items.append(NavItem(IMPORTS_PAGE, "nav.imports", "home.imports"))
    if allowed(role, "checks.run") and principal.department_id is not None:
        items.append(NavItem("/workspace/checks", "nav.checks", "home.checks"))
    # a department's own data quality; those who read every department's have the console's page
    if allowed(role, "records.read") and principal.department_id is not None and not allowed(role, "quality.read"):
        items.append(NavItem(OWN_QUALITY_PAGE, "nav.own_quality", "home.own_quality"))
    if role == "officer":
        items.append(NavItem(OWN_KEYS_PAGE, "nav.apikeys", "home.officer.manage_keys"))
    for permission, href, label, hint in _DATA_ITEMS:
        if allowed(role, permission):
            items.append(NavItem(href, label, hint))
    return items
