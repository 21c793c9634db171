from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tests.support import SYSTEM

from xinyong.catalog.service import load_default


@pytest.fixture
def catalog_loaded(db):  # type: ignore[no-untyped-def]
    with db.session() as s:
        load_default(s, actor=SYSTEM)


Uploader = Callable[..., Any]


@pytest.fixture
def upload(client, app, world, catalog_loaded) -> Uploader:  # type: ignore[no-untyped-def]
    """POST a file to /api/v1/imports and (by default) wait for its background job to end."""
    from xinyong.imports.api import runner_of

    def _upload(data: bytes, filename: str = "data.csv", item: str = "admin_penalty", key: str | None = None,
                wait: bool = True, expect: int = 202) -> Any:
        r = client.post("/api/v1/imports", files={"file": (filename, data, "application/octet-stream")},
                        data={"item": item}, headers=world.bearer(key or world.key_a))
        assert r.status_code == expect, r.text
        if expect != 202:
            return r
        if wait:
            runner_of(app).wait()
            r2 = client.get(f"/api/v1/imports/{r.json()['id']}", headers=world.bearer(key or world.key_a))
            assert r2.status_code == 200, r2.text
            return r2.json()
        return r.json()

    return _upload


@pytest.fixture
def wait(app) -> Callable[[], None]:  # type: ignore[no-untyped-def]
    from xinyong.imports.api import runner_of

    return lambda: runner_of(app).wait()
