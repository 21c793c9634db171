from __future__ import annotations

import pytest
from tests.support import SYSTEM

from xinyong.catalog.service import load_default as load_catalog
from xinyong.lists.service import load_default as load_lists


@pytest.fixture
def lists_loaded(db):  # type: ignore[no-untyped-def]
    with db.session() as s:
        load_catalog(s, actor=SYSTEM)
        load_lists(s, actor=SYSTEM)




