from __future__ import annotations

from datetime import date

import pytest
from tests.support import SYSTEM, new_id_number

from xinyong.catalog.service import load_default


@pytest.fixture
def catalog_loaded(db):  # type: ignore[no-untyped-def]
    with db.session() as s:
        load_default(s, actor=SYSTEM)


@pytest.fixture
def person() -> tuple[str, str]:
    return new_id_number(born=date(1980, 5, 6)), "李四"
