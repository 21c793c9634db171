"""Helpers shared by tests (a plain module: import it as ``tests.support``, never conftest)."""

from __future__ import annotations

import os
from datetime import date

from xinyong.audit.service import Actor
from xinyong.privacy.identity import make_id_number

PG_URL = os.environ.get("XINYONG_TEST_DATABASE_URL")
SYSTEM = Actor.system("tests")
PASSWORD = "correct-horse-battery"

_seq = iter(range(1, 10**6))


def new_id_number(region: str = "120101", born: date | None = None) -> str:
    """A valid, distinct ID number (a process-wide sequence feeds the sequence digits)."""
    n = next(_seq)
    born = born or date(1960 + n % 40, 1 + n % 12, 1 + n % 28)
    return make_id_number(region, born, n % 1000)
