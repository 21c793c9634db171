"""Fixtures for the scoring API and page tests: a world whose citizen has records (``login`` is the
root conftest's fixture; the helper itself lives in ``tests.support``)."""

from __future__ import annotations

from typing import Any

import pytest
from tests.scoring.scoring_support import honour, penalty, push, setup


@pytest.fixture
def scored(db: Any, vault: Any, world: Any) -> dict[str, Any]:
    """The world's citizen with a penalty and an honour; the other person with a penalty."""
    with db.session() as s:
        dept = setup(s)
        _sid, (p, h) = push(s, vault, dept, [penalty("general"), honour("city")], id_number=world.citizen_id_number,
                            name="张三丰")
        push(s, vault, dept, [penalty("serious")], id_number=world.other_id_number, name="欧阳娜娜")
    return {"penalty": p, "honour": h}
