"""Fixtures for the web-shell and admin-console tests.

``login`` is the root conftest's fixture for ``tests.support.login``: conftest modules are never
imported by name (several share the name ``conftest``). Plain helpers live in ``tests.support``
and ``tests.web.web_support``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient


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
