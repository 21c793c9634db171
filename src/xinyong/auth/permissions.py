"""Permissions as data: which role may perform which action. One table, read by ``require()``."""

from __future__ import annotations

# Actions are "<area>.<verb>". Department-scoped roles are further restricted to their own
# department's objects by each service's readable-statement function.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({
        "departments.manage", "users.manage", "apikeys.manage", "apikeys.manage_own",
        "subjects.read", "subjects.write", "audit.read", "audit.seal", "console.admin",
        "records.read_all", "records.push", "records.read", "catalog.manage", "catalog.read",
        "workspace.use", "imports.use", "quality.read",
        "scores.read", "scoring.manage", "lists.read", "lists.propose", "lists.decide",
        "measures.read", "measures.manage", "checks.run", "checks.read_all", "calendar.manage",
    }),
    "officer": frozenset({
        "subjects.read", "subjects.write", "apikeys.manage_own", "records.push", "records.read", "catalog.read",
        "workspace.use", "imports.use", "scores.read", "lists.read", "lists.propose", "measures.read",
        "checks.run",
    }),
    # A department's business system, authenticated by an API key.
    "system": frozenset({
        "subjects.read", "subjects.write", "records.push", "records.read", "catalog.read", "imports.use",
        "scores.read", "lists.read", "lists.propose", "measures.read", "checks.run",
    }),
    "institution": frozenset({"catalog.read"}),
    # A citizen reads only their own score (``self.read``) and may state a defence against a listing.
    "citizen": frozenset({"self.read", "catalog.read", "lists.defend"}),
    "auditor": frozenset({"audit.read", "subjects.read", "catalog.read", "quality.read", "records.read", "records.read_all",
                          "scores.read", "lists.read", "measures.read", "checks.read_all"}),
}


# Administrative changes that need the password entered in the last STEP_UP_MINUTES (step-up
# authentication, ASVS level 3): a session left open on a desk cannot change who may do what, the
# rules or the keys, nor decide a listing (auth.deps.require).
STEP_UP_ACTIONS = frozenset({"users.manage", "departments.manage", "apikeys.manage", "catalog.manage",
                             "scoring.manage", "measures.manage", "calendar.manage", "lists.decide"})
STEP_UP_MINUTES = 15


def allowed(role: str, action: str) -> bool:
    return action in ROLE_PERMISSIONS.get(role, frozenset())
