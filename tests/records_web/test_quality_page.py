"""The data-quality page: per department pushed, rejected (by reason), timeliness; date range;
the chart's data attribute; who may see it."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape

import pytest
from tests.records_web.records_web_support import cell
from tests.web.web_support import audit

from xinyong import clock
from xinyong.records.quality import department_quality

PAGE = "/admin/quality"


def test_the_quality_page_shows_the_numbers(client, world, sample, login, db):
    login(client, "admin")
    page = client.get(PAGE)
    assert page.status_code == 200
    html = page.text
    a = "dept-scjgj"
    assert cell(html, a, "pushed") == "4" and cell(html, a, "rejected") == "1"
    assert cell(html, a, "rejection_rate_distinct") == "20.0%"
    assert cell(html, a, "with-deadline") == "4" and cell(html, a, "late") == "2"
    assert cell(html, a, "on-time-rate") == "50.0%"
    with db.session() as s:
        q = {r.code: r for r in department_quality(s)}["scjgj"]
    assert cell(html, a, "avg-delay") == str(q.avg_delay_working_days)
    assert cell(html, a, "max-delay") == str(q.max_delay_working_days)
    row = re.search(r'<tr id="dept-scjgj">(.*?)</tr>', html, re.S).group(1)
    assert "身份证号码无效" in row and "invalid_id_number" in row
    assert cell(html, "dept-gaj", "pushed") == "1" and cell(html, "dept-gaj", "rejected") == "0"
    assert cell(html, "dept-gaj", "rejection_rate_distinct") == "0.0%"
    assert 'id="dept-total"' in html  # two departments: a total row
    chart = json.loads(unescape(re.search(r'data-chart="([^"]*)"', html).group(1)))
    assert chart["categories"] == ["公安和平分局", "区市场监管局"]
    assert [s["data"] for s in chart["series"]] == [[1, 4], [0, 1], [0, 2]]
    assert chart["series"][0]["name"] == "报送记录"
    assert '<script src="/static/charts.js"' in html or "charts.js" in html
    assert len(audit(db, "quality.read", actor_label="admin")) == 1


def test_the_date_range(client, world, sample, login):
    login(client, "admin")
    tomorrow = (clock.today() + timedelta(days=2)).isoformat()
    page = client.get(PAGE, params={"since": tomorrow})
    assert cell(page.text, "dept-scjgj", "pushed") == "0" and cell(page.text, "dept-scjgj", "rejection_rate_distinct") == "—"
    assert f'value="{tomorrow}"' in page.text
    page = client.get(PAGE, params={"until": "2020-01-01", "since": "2019-01-01"})
    assert cell(page.text, "dept-scjgj", "pushed") == "0"
    page = client.get(PAGE, params={"since": "2020-02-30"})
    assert page.status_code == 200 and "日期格式应为 YYYY-MM-DD" in page.text
    assert 'id="quality"' not in page.text  # a date the page cannot read filters nothing: no figures
    assert 'value="2020-02-30"' in page.text and 'aria-invalid="true"' in page.text  # shown as typed
    page = client.get(PAGE, params={"since": "2026-05-01", "until": "2026-01-01"})
    assert "起始日期晚于结束日期" in page.text


def test_a_reversed_range_shows_its_warning_and_no_figures(client, world, sample, login, db):
    """Since after until: the warning, the dates as typed in the form, and no table, no
    chart, no total — never the unfiltered figures under the warning, which read as that period's.
    Nothing is read: the refused query is a ``failed`` ``quality.read`` entry naming ``until``, as the
    API's refusal of the same range (422 naming until) is."""
    csrf = login(client, "admin")
    page = client.get(PAGE, params={"since": "2026-05-01", "until": "2026-01-01"})
    assert page.status_code == 200
    html = page.text
    assert "起始日期晚于结束日期" in html
    assert 'value="2026-05-01"' in html and 'value="2026-01-01"' in html
    assert 'id="quality"' not in html and 'id="dept-scjgj"' not in html and 'id="dept-total"' not in html
    assert "data-chart" not in html and "统计期间" not in html
    [page_entry] = audit(db, "quality.read")
    assert page_entry.outcome == "failed" and page_entry.details == {
        "errors": ["bad_range"], "fields": ["until"], "via": "page"}
    api = client.get("/api/v1/quality", params={"since": "2026-05-01", "until": "2026-01-01"},
                     headers={"X-CSRF-Token": csrf})
    assert api.status_code == 422
    body = api.json()
    assert body["code"] == "invalid_range" and [e["field"] for e in body["errors"]] == ["until"], body
    api_entry = audit(db, "quality.read")[1]
    assert api_entry.outcome == "failed" and api_entry.details["code"] == "invalid_range"
    assert api_entry.details["field"] == "until"
    # the same page with the range the right way round reads, and is audited
    page = client.get(PAGE, params={"since": "2026-01-01", "until": "2026-05-01"})
    assert cell(page.text, "dept-scjgj", "pushed") == "0" and 'id="quality"' in page.text
    assert [e.outcome for e in audit(db, "quality.read")] == ["failed", "failed", "ok"]


def test_resends_of_a_bad_record_are_one_rejected_record_on_the_page(client, world, sample, login, db, vault):
    """A retry loop resending one refused record: the page shows one rejected record and five refusals,
    the rate over records, and reasons that add up to the rejected records (one reason a record)."""
    from tests.records_web.records_web_support import penalty, push

    bad = {**penalty(sample.li, "A-BAD", "general", "2026-03-02"), "id_number": "12010119900101123"}
    del bad["fields"]["decision_no"]  # two errors: counted under one reason on the page
    with db.session() as s:
        for _ in range(4):
            [o] = push(s, vault, world.dept_a, [bad])
            assert o.status == "rejected" and [e["code"] for e in o.errors] == ["invalid_id_number", "missing"]
    login(client, "admin")
    html = client.get(PAGE).text
    a = "dept-scjgj"
    assert cell(html, a, "rejected_distinct") == "1" and cell(html, a, "rejected") == "5"
    assert cell(html, a, "rejection_rate_distinct") == "20.0%"  # 1 ÷ (4 + 1), not 5 ÷ (4 + 5)
    reasons = cell(html, a, "rejected_distinct_by_reason")
    assert re.findall(r"\b\d+\b", reasons) == ["1"] and "invalid_id_number" in reasons, reasons
    assert "<code>missing</code>" not in html.split('id="dept-scjgj"')[1].split("</tr>")[0]
    assert cell(html, "dept-total", "rejected_distinct") == "1" and cell(html, "dept-total", "rejected") == "5"
    assert "本页不列出" in html  # the note says why the API's per-error reasons are not these


def test_the_auditor_reads_it_too(client, world, sample, login):
    login(client, "auditor")
    page = client.get(PAGE)
    assert page.status_code == 200 and cell(page.text, "dept-scjgj", "pushed") == "4"


@pytest.mark.parametrize("user", ["officer_a", "bank", "zhangsan"])
def test_the_quality_page_is_not_for_departments(client, world, sample, login, user):
    login(client, user)
    r = client.get(PAGE)
    assert r.status_code == 403 and "无权访问" in r.text


def test_who_reads_which_departments_quality(client, world, sample, login, db):
    """Supervising every department's data is the credit office's, which the platform's admin is (domain
    brief, Actors: "credit office (platform admin) | 区发展改革委 (信用办) | … supervises departments"); the
    auditor reads it too. ``officer`` is every department's officer role — the credit office's own
    department (fgw in the demo) included — so it does not hold ``quality.read``: with it, each
    department's officers would read every department's figures. An officer reads their own
    department's quality over the API (as the department's key does), never another's, and not the
    console page. Every read is audited under its reader."""
    from xinyong.auth.permissions import allowed
    from xinyong.demo import CREDIT_OFFICE, DEMO_USERS

    roles = {(dept, role) for _, role, dept, _ in DEMO_USERS}
    assert (None, "admin") in roles and (CREDIT_OFFICE, "officer") in roles  # the credit office's two accounts
    assert allowed("admin", "quality.read") and allowed("auditor", "quality.read")
    assert not allowed("officer", "quality.read") and not allowed("system", "quality.read")
    for user, mine in (("officer_a", "scjgj"), ("officer_b", "gaj")):
        csrf = login(client, user)
        assert client.get(PAGE).status_code == 403
        got = client.get("/api/v1/quality", headers={"X-CSRF-Token": csrf})
        assert got.status_code == 200 and [q["code"] for q in got.json()] == [mine], got.text
        assert len(audit(db, "quality.read", actor_label=user)) == 1
    assert client.get("/api/v1/quality", headers=world.bearer(world.key_b)).json()[0]["code"] == "gaj"
    for user in ("admin", "auditor"):
        csrf = login(client, user)
        got = client.get("/api/v1/quality", headers={"X-CSRF-Token": csrf})
        assert {q["code"] for q in got.json()} == {"scjgj", "gaj"}
        assert client.get(PAGE).status_code == 200
        assert len(audit(db, "quality.read", actor_label=user)) == 2  # the API's read and the page's


def test_english(client, world, sample, login):
    login(client, "admin")
    client.cookies.set("lang", "en")
    page = client.get(PAGE)
    assert "Data quality" in page.text and "Rejection rate" in page.text and "Invalid ID number" in page.text
    chart = json.loads(unescape(re.search(r'data-chart="([^"]*)"', page.text).group(1)))
    assert chart["series"][0]["name"] == "Pushed"


@pytest.mark.parametrize("params", [{"since": "0001-01-01"}, {"until": "0001-01-01"},
                                    {"since": "0001-01-01", "until": "9999-12-31"}])
def test_the_date_range_at_the_calendars_ends(client, world, sample, login, params):
    """A local day at the calendar's very start (or end) has no UTC instant in range: it bounds
    nothing rather than failing the page (and the API) with a 500."""
    login(client, "admin")
    page = client.get(PAGE, params=params)
    assert page.status_code == 200
    expected = "0" if params.get("until") == "0001-01-01" else "4"
    assert cell(page.text, "dept-scjgj", "pushed") == expected
    api = client.get("/api/v1/quality", params=params)
    assert api.status_code == 200
    assert {q["code"]: q["pushed"] for q in api.json()}["scjgj"] == int(expected)


OWN = "/workspace/quality"


@pytest.mark.parametrize(("user", "mine", "other"), [("officer_a", "scjgj", "gaj"), ("officer_b", "gaj", "scjgj")])
def test_an_officer_reads_their_own_departments_quality_page(client, world, sample, login, db, user, mine, other):
    """An officer's page in the workspace: their own department's figures — what the API answers them —
    never another department's (no row, no chart category, no total), with the same period filter;
    audited as the credit office's page is (``quality.read``, ``via: page``). Officers still do not
    hold ``quality.read``, and the credit office's page stays closed to them."""
    from xinyong.auth.permissions import allowed

    assert not allowed("officer", "quality.read")
    csrf = login(client, user)
    page = client.get(OWN)
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    html = page.text
    assert "本部门数据质量" in html and 'id="quality"' in html
    api = {q["code"]: q for q in client.get("/api/v1/quality", headers={"X-CSRF-Token": csrf}).json()}
    assert list(api) == [mine]
    assert cell(html, f"dept-{mine}", "pushed") == str(api[mine]["pushed"])
    assert cell(html, f"dept-{mine}", "rejected") == str(api[mine]["rejected"])
    assert f'id="dept-{other}"' not in html and 'id="dept-total"' not in html
    names = {"scjgj": "区市场监管局", "gaj": "公安和平分局"}
    assert names[other] not in html
    if 'data-chart="' in html:
        chart = json.loads(unescape(re.search(r'data-chart="([^"]*)"', html).group(1)))
        assert chart["categories"] == [names[mine]]
    # the period filter, as on the credit office's page: its form posts back here
    assert f'action="{OWN}"' in html and 'name="since"' in html
    page = client.get(OWN, params={"since": "2019-01-01", "until": "2020-01-01"})
    assert cell(page.text, f"dept-{mine}", "pushed") == "0"
    entries = audit(db, "quality.read", actor_label=user)
    assert [e.details.get("via", "api") for e in entries] == ["page", "api", "page"]
    assert entries[2].details["since"] == "2019-01-01" and entries[2].details["until"] == "2020-01-01"
    assert client.get(PAGE).status_code == 403  # every department's page: still not theirs


def test_the_officers_page_refuses_a_period_it_cannot_apply(client, world, sample, login, db):
    login(client, "officer_a")
    for params in ({"since": "2026-05-01", "until": "2026-01-01"}, {"since": "yesterday"}):
        page = client.get(OWN, params=params)
        assert page.status_code == 200 and 'id="quality"' not in page.text and "data-chart" not in page.text
        assert "起始日期晚于结束日期" in page.text or "日期格式应为 YYYY-MM-DD" in page.text
        for value in params.values():  # the dates as typed
            assert f'value="{value}"' in page.text
    entries = audit(db, "quality.read")  # each refused period registered, never the value typed
    assert [(e.outcome, e.details["errors"], e.details["fields"]) for e in entries] == [
        ("failed", ["bad_range"], ["until"]), ("failed", ["bad_date"], ["since"])]
    assert "yesterday" not in str([e.details for e in entries])


def test_the_officers_page_in_english(client, world, sample, login):
    login(client, "officer_a")
    client.cookies.set("lang", "en")
    html = client.get(OWN).text
    assert "Our department&#39;s data quality" in html or "Our department's data quality" in html
    assert "Only your department" in html and cell(html, "dept-scjgj", "pushed") == "4"


@pytest.mark.parametrize("user", ["admin", "auditor"])
def test_those_who_read_every_department_are_sent_to_the_console_page(client, world, sample, login, user):
    login(client, user)
    r = client.get(OWN, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == PAGE


@pytest.mark.parametrize("user", ["bank", "zhangsan"])
def test_the_officers_page_is_not_for_others(client, world, sample, login, user):
    login(client, user)
    assert client.get(OWN).status_code == 403


def test_the_pages_state_the_deadlines_the_catalog_sets(client, world, sample, login, db):
    """The late counts are counted against each item's ``arrival_working_days`` in the catalog
    (configuration: the credit office may change a period or give another item one), so the pages'
    introduction states those rules, not a "7 working days" written into the page's text."""
    from tests.support import SYSTEM

    from xinyong.catalog.service import get_current, update_item
    from xinyong.catalog.spec import to_data

    def intro(path: str) -> str:
        html = client.get(path).text
        return unescape(re.search(r'<p class="muted">([^<]*报送时效[^<]*)</p>', html).group(1))

    login(client, "admin")
    assert "行政许可信息、行政处罚信息应在作出决定后7个工作日内报送" in intro(PAGE)
    with db.session() as s:
        spec = to_data(get_current(s, "admin_penalty").spec)
        update_item(s, code="admin_penalty", data={**spec, "arrival_working_days": 5}, actor=SYSTEM)
        tax = to_data(get_current(s, "tax_violation").spec)
        update_item(s, code="tax_violation", data={**tax, "arrival_working_days": 10}, actor=SYSTEM)
    said = intro(PAGE)
    assert "行政处罚信息应在作出决定后5个工作日内报送" in said, said
    assert "行政许可信息应在作出决定后7个工作日内报送" in said and "税收违法信息应在作出决定后10个工作日内报送" in said
    client.get("/lang", params={"to": "en"})
    english = unescape(client.get(PAGE).text)
    assert "Administrative penalty: due within 5 working days of the decision" in english
    login(client, "officer_a")
    client.get("/lang", params={"to": "zh"})
    assert "行政处罚信息应在作出决定后5个工作日内报送" in intro("/workspace/quality")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_reason_the_quality_figures_hold_has_a_label(lang):
    """The pages list refusals by reason, each as its label and its code: every code a refused record
    or a batch refused whole is counted under (docs/integration.md, "Timeliness": ``batches_refused_by_reason``
    — ``batch_empty``, ``batch_too_large``, ``json_invalid``, ``body_unreadable``, ``too_large`` …) has a
    label in both languages (``too_large``, a body over the size limit, was shown as its bare code)."""
    from xinyong.web.i18n import label

    codes = ["missing", "wrong_type", "not_allowed", "out_of_range", "too_long", "invalid_characters", "unknown_field",
             "unknown_item", "contains_id_number", "item_not_allowed", "invalid_id_number", "name_mismatch",
             "future_date", "duplicate_in_batch", "revoked", "archived", "item_changed", "id_stored_as_number", "stored_as_number",
             "formula_error", "merged_cell", "extra_value", "batch_empty", "batch_too_large", "json_invalid",
             "body_unreadable", "too_large", "list_type", "model_attributes_type", "extra_forbidden"]
    assert [c for c in codes if label(lang, "reason", c) == c] == []


def test_the_figures_count_each_departments_records_per_item(client, world, sample, db):
    """Per department, the records pushed are counted per catalog item too (the API's ``by_item``): the
    sample's market regulator pushed three penalties and one licence, the police one penalty; a
    rejected record is in no item's count."""
    with db.session() as s:
        rows = {q.code: q for q in department_quality(s)}
    assert rows["scjgj"].by_item == {"admin_penalty": 3, "admin_license": 1}
    assert rows["gaj"].by_item == {"admin_penalty": 1}
    assert sum(rows["scjgj"].by_item.values()) == rows["scjgj"].pushed
    mine = client.get("/api/v1/quality", headers=world.bearer(world.key_a)).json()
    assert [(m["code"], m["by_item"]) for m in mine] == [("scjgj", {"admin_penalty": 3, "admin_license": 1})]


def test_each_record_is_late_against_its_own_items_deadline(client, world, sample, db):
    """A penalty is late past the penalty rule's working days, a licence past the licence rule's: with
    penalties due in 2 working days (licences still 7), the sample's serious penalty (3 working days)
    is late too, besides the old penalty and the licence; the prompt penalty (2) is not. Due in 3, the
    serious penalty arrived on its last day: on time."""
    from tests.support import SYSTEM

    from xinyong.catalog.service import get_current, update_item
    from xinyong.catalog.spec import to_data

    def late_with_penalties_due_in(days: int) -> int:
        with db.session() as s:
            spec = to_data(get_current(s, "admin_penalty").spec)
            update_item(s, code="admin_penalty", data={**spec, "arrival_working_days": days}, actor=SYSTEM)
        with db.session() as s:
            q = {q.code: q for q in department_quality(s)}["scjgj"]
        assert q.with_deadline == 4
        return q.late

    with db.session() as s:
        assert {q.code: q for q in department_quality(s)}["scjgj"].late == 2
    assert late_with_penalties_due_in(2) == 3
    # "within N working days": arriving on the Nth working day is on time
    assert late_with_penalties_due_in(3) == 2
