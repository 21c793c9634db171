"""The home page of each role: which template, and what it shows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyong.audit.service import record
from xinyong.auth.models import ApiKey, Department
from xinyong.auth.service import Principal
from xinyong.privacy.vault import Vault
from xinyong.subjects import service as subjects
from xinyong.subjects.models import Subject

HomeBuilder = Callable[[Session, Vault, Principal], dict[str, Any]]


def _department(session: Session, principal: Principal) -> Department | None:
    if principal.department_id is None:
        return None
    return session.get(Department, principal.department_id)


def _nothing(session: Session, vault: Vault, principal: Principal) -> dict[str, Any]:
    return {}


def _admin(session: Session, vault: Vault, principal: Principal) -> dict[str, Any]:
    """The years whose holiday schedule is missing (working-day deadlines fall back to Monday–Friday)."""
    from xinyong import clock, workdays

    return {"uncovered_years": workdays.uncovered_years(clock.today())}


def _officer(session: Session, vault: Vault, principal: Principal) -> dict[str, Any]:
    dept = _department(session, principal)
    active_keys = 0
    if dept is not None:
        active_keys = session.scalar(select(func.count(ApiKey.id)).where(
            ApiKey.department_id == dept.id, ApiKey.revoked_at.is_(None))) or 0
    return {"department": dept, "active_keys": active_keys}


def _institution(session: Session, vault: Vault, principal: Principal) -> dict[str, Any]:
    return {"department": _department(session, principal)}


def _citizen(session: Session, vault: Vault, principal: Principal) -> dict[str, Any]:
    """The person's own identity, masked; reading it is audited like any read of personal data."""
    subject = session.get(Subject, principal.subject_id) if principal.subject_id is not None else None
    if subject is None:
        return {"me": None}
    record(session, actor=principal.actor, action="subject.read", object_type="subject", object_id=subject.id,
           details={"via": "home"})
    return {"me": subjects.view(subject, vault=vault)}


HOMES: dict[str, tuple[str, HomeBuilder]] = {
    "admin": ("home/admin.html", _admin),
    "officer": ("home/officer.html", _officer),
    "institution": ("home/institution.html", _institution),
    "citizen": ("home/citizen.html", _citizen),
    "auditor": ("home/auditor.html", _nothing),
}
FALLBACK: tuple[str, HomeBuilder] = ("home/other.html", _nothing)


def home_for(session: Session, vault: Vault, principal: Principal) -> tuple[str, dict[str, Any]]:
    template, build = HOMES.get(principal.role, FALLBACK)
    return template, build(session, vault, principal)
