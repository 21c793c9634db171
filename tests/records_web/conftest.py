"""Fixtures for the workspace and console data pages: the catalog and a few records of two
departments (``login`` is the root conftest's fixture; the helper lives in ``tests.support``)."""

from __future__ import annotations

from typing import Any

import pytest
from tests.records_web.records_web_support import Sample, build_sample
from tests.support import SYSTEM

from xinyong.catalog.service import load_default


@pytest.fixture
def catalog_loaded(db: Any) -> None:
    with db.session() as s:
        load_default(s, actor=SYSTEM)


@pytest.fixture
def sample(db: Any, vault: Any, world: Any, catalog_loaded: None) -> Sample:
    """Records of both departments (pushed through the ingestion service) and one rejection."""
    with db.session() as s:
        return build_sample(s, vault, world)
