"""Shares are written one way on every page (web.templating.percent): one decimal and the sign, and a
part never rounded to all or nothing. The grade distribution wrote 33.3 under a "%" header, the
feedback statistics 67% (no decimal), the data-quality page 92.0%."""

from __future__ import annotations

import re

import pytest
from tests.measures.measures_support import subject_with_status
from tests.support import SYSTEM, login

from xinyong.measures import service as measures


@pytest.mark.parametrize(("ratio", "shown"), [
    (None, "—"), (0, "0.0%"), (1, "100.0%"), (2 / 3, "66.7%"), (0.0005, "0.1%"), (0.9994, "99.9%"),
    (1 / 3000, "<0.1%"), (2999 / 3000, ">99.9%"),
])
def test_a_share_is_written_with_one_decimal_and_never_rounded_to_all_or_nothing(ratio, shown) -> None:  # type: ignore[no-untyped-def]
    from xinyong.web.templating import percent

    assert percent(ratio) == shown


def test_the_feedback_statistics_write_shares_as_the_other_pages_do(client, world, db, vault):  # type: ignore[no-untyped-def]
    """Three answers naming a measure, two fed back: 66.7%, where the page wrote 67%."""
    with db.session() as s:
        measures.load_default(s, actor=SYSTEM)
        listed, _ = subject_with_status(s, vault, grade="D", lists=["serious_dishonesty"])
    h = world.bearer(world.key_a)
    for i in range(3):
        r = client.post("/api/v1/checks", json={"id_number": listed, "scenario": "civil_service_hiring"}, headers=h)
        assert r.status_code == 200
        if i < 2:
            r = client.post(f"/api/v1/checks/{r.json()['check_id']}/feedback",
                            json={"measure": "restrict_civil_service_hiring", "applied": i == 0}, headers=h)
            assert r.status_code in (200, 201), r.text
    login(client, "admin")
    html = client.get("/admin/checks/feedback").text
    row = re.search(r"<tr><td>[^<]*<code>scjgj</code></td><td>[^<]*<code>restrict_civil_service_hiring</code>.*?</tr>",
                    html, re.S).group(0)
    cells = re.findall(r'<td class="num">([^<]*)</td>', row)
    assert cells[-3:] == ["66.7%", "33.3%", "66.7%"], cells


def test_the_grade_distribution_writes_shares_as_the_other_pages_do(client, world, db, vault):  # type: ignore[no-untyped-def]
    with db.session() as s:  # the world's two people are graded A
        subject_with_status(s, vault, grade="D")
    login(client, "auditor")
    client.cookies.set("lang", "en")
    html = client.get("/admin/scoring/distribution").text
    table = re.search(r'<table class="striped" id="grades">(.*?)</table>', html, re.S).group(1)
    assert re.findall(r"<th[^>]*>([^<]*)</th>", table) == ["Grade", "People", "Share"]
    rows = dict(re.findall(r"<tr><td><strong>(\w+)</strong></td><td[^>]*>\d+</td>\s*<td[^>]*>([^<]*)</td></tr>", table))
    assert rows["A"] == "66.7%" and rows["D"] == "33.3%" and rows["AAA"] == "0.0%", rows
