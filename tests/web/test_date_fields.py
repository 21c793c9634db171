"""Date fields: a date box (the browser's picker) for a day the page can show, and a value it could
not read, or refused, shown back as typed in a text box with the year-month-day hint in the page's
language (a date box would show it empty), marked invalid."""

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


def test_date_fields_are_date_boxes(client, world, db) -> None:  # type: ignore[no-untyped-def]
    from tests.support import SYSTEM

    from xinyong.catalog.service import load_default as load_catalog

    with db.session() as s:
        load_catalog(s, actor=SYSTEM)
    for user, path, fields in PAGES:
        login(client, user)
        r = client.get(path)
        assert r.status_code == 200, (path, r.status_code)
        for name in fields:
            tag = re.search(rf'<input [^>]*name="{name}"[^>]*>', r.text).group(0)
            assert 'type="date"' in tag and "aria-invalid" not in tag, tag
    login(client, "admin")
    tag = re.search(r'<input [^>]*name="effective_from"[^>]*>', client.get("/admin/scoring").text).group(0)
    assert re.search(r'min="\d{4}-\d{2}-\d{2}"', tag), tag  # a ruleset takes effect from today on


@pytest.mark.parametrize(("lang", "hint"), [("zh", "年-月-日，如 2026-03-04"), ("en", "year-month-day, e.g. 2026-03-04")])
def test_a_filter_date_the_page_could_not_read_is_shown_back_as_typed_with_the_hint(client, world, db, lang, hint
                                                                                  ) -> None:  # type: ignore[no-untyped-def]
    login(client, "admin")
    client.cookies.set("lang", lang)
    html = client.get("/workspace/records", params={"decided_from": "2026-03-04"}).text
    assert re.search(r'<input type="date" name="decided_from" value="2026-03-04"', html)
    html = client.get("/workspace/records", params={"decided_from": "03/04/2026"}).text
    tag = re.search(r'<input [^>]*name="decided_from"[^>]*>', html).group(0)
    assert 'type="text"' in tag and 'value="03/04/2026"' in tag and 'aria-invalid="true"' in tag, tag
    hint_id = re.search(r'aria-describedby="([^"]+)"', tag).group(1)
    assert re.search(rf'<small id="{hint_id}"[^>]*>{hint}</small>', html)
