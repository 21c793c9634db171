"""Fixtures for the scoring API and page tests: the root conftest's ``login`` helper (reached through
pytest's plugin manager, as in tests/records_web) and a world whose citizen has records."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from tests.scoring.scoring_support import honour, penalty, push, setup

ROOT_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"


@pytest.fixture(scope="session")
def login(pytestconfig: pytest.Config) -> Callable[..., str]:
    for plugin in pytestconfig.pluginmanager.get_plugins():
        file = getattr(plugin, "__file__", None)
        if file and Path(file).resolve() == ROOT_CONFTEST:
            module: ModuleType = plugin
            return module.login  # type: ignore[no-any-return]
    raise RuntimeError("tests/conftest.py is not loaded")


@pytest.fixture
def scored(db: Any, vault: Any, world: Any) -> dict[str, Any]:
    """The world's citizen with a penalty and an honour; the other person with a penalty."""
    with db.session() as s:
        dept = setup(s)
        _sid, (p, h) = push(s, vault, dept, [penalty("general"), honour("city")], id_number=world.citizen_id_number,
                            name="张三丰")
        push(s, vault, dept, [penalty("serious")], id_number=world.other_id_number, name="欧阳娜娜")
    return {"penalty": p, "honour": h}
