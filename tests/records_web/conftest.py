"""Fixtures for the workspace and console data pages: the catalog, a few records of two
departments, and the root conftest's ``login`` helper (reached through pytest's plugin manager,
as in tests/web)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from tests.records_web.records_web_support import Sample, build_sample
from tests.support import SYSTEM

from xinyong.catalog.service import load_default

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
def catalog_loaded(db: Any) -> None:
    with db.session() as s:
        load_default(s, actor=SYSTEM)


@pytest.fixture
def sample(db: Any, vault: Any, world: Any, catalog_loaded: None) -> Sample:
    """Records of both departments (pushed through the ingestion service) and one rejection."""
    with db.session() as s:
        return build_sample(s, vault, world)
