from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from tests.support import SYSTEM

from xinyong.catalog.service import load_default as load_catalog
from xinyong.lists.service import load_default as load_lists


@pytest.fixture
def lists_loaded(db):  # type: ignore[no-untyped-def]
    with db.session() as s:
        load_catalog(s, actor=SYSTEM)
        load_lists(s, actor=SYSTEM)


ROOT_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"


@pytest.fixture(scope="session")
def login(pytestconfig: pytest.Config) -> Callable[..., str]:
    """The root conftest's login helper, reached through pytest's plugin manager (as in tests/web)."""
    for plugin in pytestconfig.pluginmanager.get_plugins():
        file = getattr(plugin, "__file__", None)
        if file and Path(file).resolve() == ROOT_CONFTEST:
            module: ModuleType = plugin
            return module.login  # type: ignore[no-any-return]
    raise RuntimeError("tests/conftest.py is not loaded")
