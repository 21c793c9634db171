"""Date fields read the same in both languages: typed year-month-day, as every page writes a date,
with that hint beside. They were date boxes (type="date"), which show their value in the browser's
locale whatever the page's language or lang attribute (03/04/2026 on a Chinese page in Chromium:
March or April?)."""

from __future__ import annotations

import re

import pytest
from tests.support import login

PAGES = [  # (user, page, its date fields)
    ("admin", "/workspace/records", ["decided_from", "decided_to"]),
    ("admin", "/admin/quality", ["since", "until"]),
    ("admin", "/audit", ["occurred_from", "occurred_to"]),
    ("admin", "/admin/scoring", ["effective_from"]),
    ("zhangsan", "/my/score", ["decided_at"]),
]


@pytest.mark.parametrize(("lang", "hint"), [("zh", "年-月-日，如 2026-03-04"), ("en", "year-month-day, e.g. 2026-03-04")])
def test_date_fields_are_typed_year_month_day_with_a_hint(client, world, db, lang, hint) -> None:  # type: ignore[no-untyped-def]
    from tests.support import SYSTEM

    from xinyong.catalog.service import load_default as load_catalog

    with db.session() as s:
        load_catalog(s, actor=SYSTEM)
    for user, path, fields in PAGES:
        login(client, user)
        client.cookies.set("lang", lang)
        r = client.get(path)
        assert r.status_code == 200, (path, r.status_code)
        assert 'type="date"' not in r.text, path
        for name in fields:
            tag = re.search(rf'<input [^>]*name="{name}"[^>]*>', r.text).group(0)
            assert 'type="text"' in tag and 'placeholder="YYYY-MM-DD"' in tag, tag
            hint_id = re.search(r'aria-describedby="([^"]+)"', tag).group(1)
            assert re.search(rf'<small id="{hint_id}"[^>]*>{hint}</small>', r.text), (path, name)


def test_a_filter_date_typed_is_shown_back_as_typed(client, world, db) -> None:  # type: ignore[no-untyped-def]
    """The records filter keeps the day applied in the form, year-month-day, and refuses another
    format in the page's language, naming the filter."""
    login(client, "admin")
    html = client.get("/workspace/records", params={"decided_from": "2026-03-04"}).text
    assert re.search(r'<input type="text" name="decided_from" value="2026-03-04"', html)
    client.cookies.set("lang", "en")
    html = client.get("/workspace/records", params={"decided_from": "03/04/2026"}).text
    assert re.search(r'<input type="text" name="decided_from" value="03/04/2026"[^>]*aria-invalid="true"', html)
