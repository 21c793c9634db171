"""Fixtures for the web-shell and admin-console tests.

``login`` is the root conftest's helper, reached through pytest's plugin manager: conftest
modules are never imported by name (several share the name ``conftest``). Plain helpers live in
``tests.support`` and ``tests.web.web_support``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi.testclient import TestClient

ROOT_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"


@pytest.fixture(scope="session")
def root_conftest(pytestconfig: pytest.Config) -> ModuleType:
    for plugin in pytestconfig.pluginmanager.get_plugins():
        file = getattr(plugin, "__file__", None)
        if file and Path(file).resolve() == ROOT_CONFTEST:
            return plugin  # type: ignore[no-any-return]
    raise RuntimeError("tests/conftest.py is not loaded")


@pytest.fixture(scope="session")
def login(root_conftest: ModuleType) -> Callable[..., str]:
    """``login(client, username)`` through the real form; returns the session's CSRF token."""
    return root_conftest.login  # type: ignore[no-any-return]


@pytest.fixture
def other_client(app: Any) -> Iterator[TestClient]:
    """A second browser on the same application and database."""
    with TestClient(app, base_url="https://testserver") as c:
        yield c


@pytest.fixture
def loose_client(app: Any) -> Iterator[TestClient]:
    """A browser that gets the 500 page instead of the server's exception."""
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
        yield c
