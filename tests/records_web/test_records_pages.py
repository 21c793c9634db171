"""Workspace records pages: department scope, masked identities, filters, paging, find by ID
number (POST only), the record page and revocation (CSRF, reason), audit entries."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from tests.records_web.records_web_support import HTMX, row_ids
from tests.web.web_support import audit, hidden

from xinyong.records import views
from xinyong.records.models import Record, RecordRevision

LIST = "/workspace/records"


def _raw_identities(sample) -> list[str]:  # type: ignore[no-untyped-def]
    out = []
    for p in (sample.li, sample.ouyang, sample.wang):
        out += [p.id_number, p.id_number.lower(), p.name]
    return out


def test_officer_sees_only_own_departments_records(client, world, sample, login, db):
    login(client, "officer_a")
    page = client.get(LIST)
    assert page.status_code == 200
    a_ids = {sample.ids[s] for s in ("A-P1", "A-P2", "A-LIC", "A-OLD")}
    assert set(row_ids(page.text)) == a_ids
    assert "B-P1" not in page.text and sample.wang.masked_id not in page.text
    # newest first
    assert row_ids(page.text) == sorted(a_ids, reverse=True)
    # Another department's record is not found: reading, revoking, even naming its department.
    other = sample.ids["B-P1"]
    assert client.get(f"{LIST}/{other}").status_code == 404
    csrf = hidden(page.text, "csrf_token")
    r = client.post(f"{LIST}/{other}/revoke", data={"csrf_token": csrf, "reason": "不是我的"})
    assert r.status_code == 404
    assert set(row_ids(client.get(LIST, params={"department": "gaj"}).text)) == a_ids
    assert client.get(f"{LIST}/999999999").status_code == 404
    # each refused read or revocation is registered, another department's record and none alike
    assert [(e.action, e.object_id, e.details.get("reason")) for e in audit(db, "record.read", outcome="denied")
            + audit(db, "record.revoke", outcome="denied")] == [
        ("record.read", str(other), "not_found"), ("record.read", "999999999", "not_found"),
        ("record.revoke", str(other), "not_found")]


def test_only_masked_identities_reach_the_page(client, world, sample, login):
    login(client, "admin")
    pages = [client.get(LIST), client.get(f"{LIST}/{sample.ids['A-P1']}"), client.get(f"{LIST}/{sample.ids['B-P1']}")]
    for page in pages:
        assert page.status_code == 200
        assert page.headers["cache-control"] == "no-store"
        for raw in _raw_identities(sample):
            assert raw not in page.text, raw
    listing = pages[0].text
    for p in (sample.li, sample.ouyang, sample.wang):
        assert p.masked_id in listing and p.masked_name in listing
    assert re.search(r"\d{6}\*{8}[0-9X]{4}", listing)
    assert "欧阳**" in listing and "李**" in listing
    assert sample.li.masked_id in pages[1].text and "50000" not in pages[1].text


def test_the_admin_sees_every_department_and_filters_by_department(client, world, sample, login):
    login(client, "admin")
    page = client.get(LIST)
    assert set(row_ids(page.text)) == set(sample.ids.values())
    assert "<th>报送部门</th>" in page.text and '<option value="gaj">' in page.text
    only_b = client.get(LIST, params={"department": "gaj"})
    assert row_ids(only_b.text) == [sample.ids["B-P1"]]
    # the admin reads the record but may not revoke another department's
    detail = client.get(f"{LIST}/{sample.ids['B-P1']}")
    assert detail.status_code == 200 and "/revoke" not in detail.text


@pytest.mark.parametrize(("params", "expected"), [
    ({"item": "admin_license"}, ["A-LIC"]),
    ({"item": "admin_penalty"}, ["A-P1", "A-P2", "A-OLD"]),
    ({"status": "expired"}, ["A-OLD"]),
    ({"status": "active"}, ["A-P1", "A-P2", "A-LIC"]),
    ({"decided_from": "2026-03-01"}, ["A-P1", "A-P2"]),
    ({"decided_to": "2026-03-31"}, ["A-P2", "A-LIC", "A-OLD"]),
    ({"decided_from": "2026-03-01", "decided_to": "2026-03-31", "item": "admin_penalty"}, ["A-P2"]),
    ({"item": "admin_penalty", "status": "revoked"}, []),
])
def test_filters(client, world, sample, login, params, expected):
    login(client, "officer_a")
    page = client.get(LIST, params=params)
    assert page.status_code == 200
    assert set(row_ids(page.text)) == {sample.ids[s] for s in expected}
    for key, value in params.items():  # the form shows the filter it applied
        assert f'value="{value}"' in page.text


@pytest.mark.parametrize(("params", "warning", "refused"), [
    ({"decided_from": "yesterday"}, "日期格式应为 YYYY-MM-DD", ["decided_from"]),
    ({"decided_to": "2026-02-30"}, "日期格式应为 YYYY-MM-DD", ["decided_to"]),
    ({"decided_from": "2026-05-01", "decided_to": "2026-01-01"}, "起始日期晚于结束日期", ["decided_to"]),
    ({"status": "deleted"}, "状态无效", ["status"]),
    ({"item": "DROP TABLE"}, "信息事项代码无效", ["item"]),
    ({"item": "no_such_item"}, "没有这个信息事项", ["item"]),  # well-formed, but no item: not "no records"
    ({"decided_from": "yesterday", "status": "deleted", "item": "DROP TABLE"}, "状态无效",
     ["item", "status", "decided_from"]),
])
def test_a_filter_the_page_cannot_apply_lists_nothing(client, world, sample, login, db, params, warning, refused):
    """A filter the page cannot apply shows its warning and no rows — never the unfiltered rows under
    it, which would read as the filter's answer (the API answers 422, the data-quality page shows no
    figures) — and the form keeps what was typed, the refused filters marked. The refused query is
    registered (``records.list``, failed: the filters' names and the reasons, never what was typed)."""
    login(client, "officer_a")
    for headers in (HTMX, {}):  # the table's part alone, then the whole page
        page = client.get(LIST, params=params, headers=headers)
        assert page.status_code == 200
        assert warning in page.text and "筛选条件无法应用" in page.text
        assert row_ids(page.text) == [] and 'id="records"' not in page.text and "暂无记录" not in page.text
    for value in params.values():  # the full page's form shows what was typed
        assert f'value="{value}"' in page.text or f'value="{value}" selected' in page.text, value
    assert page.text.count('aria-invalid="true"') == len(refused)
    entries = audit(db, "records.list", actor_label="officer_a")
    assert [e.outcome for e in entries] == ["failed", "failed"]
    assert entries[0].details["fields"] == refused and entries[0].details["count"] == 0
    for value in params.values():
        if not value.startswith("2026"):
            assert value not in str(entries[0].details)
    # the same filters, corrected, list again
    page = client.get(LIST)
    assert len(row_ids(page.text)) == 4 and "筛选条件无法应用" not in page.text


def test_odd_values_in_the_pages_own_links_are_ignored(client, world, sample, login):
    login(client, "officer_a")
    for junk in ("²", "٣", "-1", "9" * 40, "1e3"):  # odd numbers in the id parameters are ignored
        page = client.get(LIST, params={"before_id": junk, "subject": junk})
        assert page.status_code == 200 and len(row_ids(page.text)) == 4, junk
    # subject=0 (what "find" leaves when nobody has that number) matches nothing, page after page
    page = client.get(LIST, params={"subject": "0"})
    assert row_ids(page.text) == [] and 'name="subject" value="0"' in page.text
    # an officer reads their own department's records, whatever the department parameter says
    assert len(row_ids(client.get(LIST, params={"department": "no such"}).text)) == 4


@pytest.mark.parametrize(("department", "warning"), [("nosuch", "没有这个部门"), ("no such!", "部门代码无效")])
def test_the_admins_department_filter_it_cannot_apply_lists_nothing(client, world, sample, login, db,
                                                                    department, warning):
    """The credit office's records page (every department) refuses an unknown department as the
    officer's refuses an unknown item: the warning, no rows, the code kept in the form."""
    login(client, "admin")
    page = client.get(LIST, params={"department": department, "item": "admin_penalty"})
    assert page.status_code == 200 and warning in page.text and row_ids(page.text) == []
    assert f'<option value="{department}" selected>' in page.text
    assert '<option value="admin_penalty" selected>' in page.text  # the filter applied stays too
    [entry] = audit(db, "records.list", actor_label="admin")
    assert entry.outcome == "failed" and entry.details["fields"] == ["department"]
    assert entry.details["item"] == "admin_penalty"
    assert row_ids(client.get(LIST, params={"department": "gaj"}).text) == [sample.ids["B-P1"]]


def test_htmx_gets_just_the_table_and_every_view_is_audited(client, world, sample, login, db):
    login(client, "officer_a")
    full = client.get(LIST)
    assert "<html" in full.text and 'id="records-results"' in full.text
    part = client.get(LIST, params={"item": "admin_license"}, headers=HTMX)
    assert part.status_code == 200
    assert "<html" not in part.text and part.text.lstrip().startswith('<div id="records-results">')
    assert row_ids(part.text) == [sample.ids["A-LIC"]]
    # a history restore (back button) needs the whole page
    restore = client.get(LIST, headers={**HTMX, "HX-History-Restore-Request": "true"})
    assert "<html" in restore.text
    entries = audit(db, "records.list", actor_label="officer_a")
    assert len(entries) == 3
    assert entries[1].details["item"] == "admin_license" and entries[1].details["count"] == 1
    client.get(f"{LIST}/{sample.ids['A-P1']}")
    reads = audit(db, "record.read", object_id=str(sample.ids["A-P1"]))
    assert len(reads) == 1 and reads[0].actor_label == "officer_a"


def test_paging_with_before_id(client, world, sample, login, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 3)
    login(client, "officer_a")
    ordered = sorted((sample.ids[s] for s in ("A-P1", "A-P2", "A-LIC", "A-OLD")), reverse=True)
    first = client.get(LIST, params={"item": "", "status": ""})
    assert row_ids(first.text) == ordered[:3]
    link = re.search(r'href="(/workspace/records\?[^"]*before_id=(\d+))"', first.text)
    assert link and int(link.group(2)) == ordered[2]
    second = client.get(link.group(1).replace("&amp;", "&"))
    assert row_ids(second.text) == ordered[3:]
    assert 'rel="next"' not in second.text and "第一页" in second.text
    # paging keeps the filters
    filtered = client.get(LIST, params={"item": "admin_penalty"})
    assert "item=admin_penalty&amp;before_id=" not in filtered.text  # only 3 penalties: one page
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    filtered = client.get(LIST, params={"item": "admin_penalty"})
    assert "item=admin_penalty&amp;before_id=" in filtered.text


def test_find_by_id_number_is_a_post_and_shows_only_the_callers_records(client, world, sample, login, db):
    csrf = login(client, "officer_a")
    page = client.get(LIST)
    assert 'action="/workspace/records/find"' in page.text and 'method="post"' in page.text
    r = client.post(f"{LIST}/find", data={"csrf_token": csrf, "id_number": sample.li.id_number.lower()})
    assert r.status_code == 200
    assert set(row_ids(r.text)) == {sample.ids[s] for s in ("A-P1", "A-P2", "A-LIC")}
    assert sample.li.id_number not in r.text and sample.li.masked_id in r.text
    assert str(r.url).endswith("/workspace/records/find")  # nothing in the address
    # a person with records in another department only: nothing, and no hint that they exist
    r = client.post(f"{LIST}/find", data={"csrf_token": csrf, "id_number": sample.wang.id_number})
    assert r.status_code == 200 and row_ids(r.text) == [] and "暂无记录" in r.text
    assert sample.wang.id_number not in r.text
    r = client.post(f"{LIST}/find", data={"csrf_token": csrf, "id_number": "123456"})
    assert r.status_code == 422 and "身份证号码无效" in r.text and "123456" not in r.text
    assert row_ids(r.text) == [] and 'id="records"' not in r.text  # no rows under the refusal: none were asked for
    from xinyong.privacy.identity import ID_ERRORS

    assert ID_ERRORS["id_length"][0] in r.text  # and why, as the check form says it
    # without the CSRF token: refused
    assert client.post(f"{LIST}/find", data={"id_number": sample.li.id_number}).status_code == 403
    finds = [e for e in audit(db, "records.list", actor_label="officer_a") if e.details.get("via") == "find"]
    assert [e.outcome for e in finds] == ["ok", "ok", "failed"]
    assert finds[2].details["errors"] == ["id_length"] and finds[2].details["fields"] == ["id_number"]
    for e in finds:
        assert sample.li.id_number not in str(e.details) and sample.wang.id_number not in str(e.details)


def test_find_does_not_tell_a_person_of_another_department_from_an_unknown_number(client, world, sample, login):
    """The page "find" renders keeps the subject as a hidden filter: for a person the caller has no
    record of it must read as for a number nobody holds (no subject id, no hint they exist)."""
    from datetime import date

    from tests.support import new_id_number

    csrf = login(client, "officer_a")
    known = client.post(f"{LIST}/find", data={"csrf_token": csrf, "id_number": sample.wang.id_number})
    unknown = client.post(f"{LIST}/find", data={"csrf_token": csrf,
                                                "id_number": new_id_number(born=date(1991, 2, 3))})
    assert known.status_code == unknown.status_code == 200
    assert hidden(known.text, "subject") == hidden(unknown.text, "subject") == "0"
    # the registered citizen with no records at all: the same
    r = client.post(f"{LIST}/find", data={"csrf_token": csrf, "id_number": world.citizen_id_number})
    assert hidden(r.text, "subject") == "0"
    # a person of the caller's own records keeps the filter (paging and the filter form stay on them)
    own = client.post(f"{LIST}/find", data={"csrf_token": csrf, "id_number": sample.li.id_number})
    assert hidden(own.text, "subject") not in (None, "0")


def test_the_record_page_shows_revisions_and_display_dates(client, world, sample, login):
    login(client, "officer_a")
    page = client.get(f"{LIST}/{sample.ids['A-P2']}")
    assert page.status_code == 200
    text = page.text
    for needle in ("行政处罚信息", "严重", "2026-03-31", "2027-03-31", "2029-03-31", "修订历史", "报送",
                   "处罚决定书文号", "50000", "A-P2", "scjgj", "撤销原因"):
        assert needle in text, needle
    assert 'id="revisions"' in text and text.count("<tr>") >= 2
    # each date says what happens on it: display_until is the first day no longer shown (see
    # docs/integration.md), so "展示截止"/"shown until" would read a day too long
    assert "<dt>停止展示日</dt><dd>2029-03-31</dd>" in text and "<dt>归档日</dt><dd>2031-03-31</dd>" in text
    assert "展示截止" not in text and "保存至" not in text


def test_revoke_needs_csrf_and_a_reason(client, world, sample, login, db):
    csrf = login(client, "officer_a")
    rid = sample.ids["A-P1"]
    url = f"{LIST}/{rid}/revoke"
    page = client.get(f"{LIST}/{rid}")
    assert f'action="{url}"' in page.text and hidden(page.text, "csrf_token") == csrf
    for data in ({"reason": "录入错误"}, {"reason": "录入错误", "csrf_token": "forged-forged-forged-forged-forged"}):
        r = client.post(url, data=data)
        assert r.status_code == 403 and "CSRF" in r.text
    r = client.post(url, data={"csrf_token": csrf, "reason": "   "})
    assert r.status_code == 422
    assert "请填写撤销原因" in r.text and 'aria-invalid="true"' in r.text and 'name="reason"' in r.text
    with db.session() as s:
        rec = s.get(Record, rid)
        assert rec.status == "active" and rec.revision == 1
    r = client.post(url, data={"csrf_token": csrf, "reason": "决定已被复议撤销"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"{LIST}/{rid}"
    with db.session() as s:
        rec = s.get(Record, rid)
        assert rec.status == "revoked" and rec.revision == 2 and rec.status_reason == "决定已被复议撤销"
        assert s.scalars(select(RecordRevision.revision).where(RecordRevision.record_id == rid)).all() == [1]
    page = client.get(f"{LIST}/{rid}")
    assert "已撤销" in page.text and "决定已被复议撤销" in page.text and url not in page.text
    again = client.post(url, data={"csrf_token": csrf, "reason": "again"})
    assert again.status_code == 409 and "记录已撤销" in again.text
    # the revocation, and the two the rules refused (blank reason, already revoked), as the API registers them
    assert [(e.outcome, e.details.get("code")) for e in audit(db, "record.revoke", object_id=str(rid))] == [
        ("failed", "missing"), ("ok", None), ("denied", "already_revoked")]
    assert len(audit(db, "auth.csrf", outcome="denied")) == 2


def test_revoke_is_for_the_owning_departments_officers(client, world, sample, login):
    csrf = login(client, "officer_b")
    r = client.post(f"{LIST}/{sample.ids['A-P1']}/revoke", data={"csrf_token": csrf, "reason": "x"})
    assert r.status_code == 404
    client.cookies.clear()
    csrf = login(client, "auditor")
    assert client.get(f"{LIST}/{sample.ids['A-P1']}").status_code == 200
    r = client.post(f"{LIST}/{sample.ids['A-P1']}/revoke", data={"csrf_token": csrf, "reason": "x"})
    assert r.status_code == 403


@pytest.mark.parametrize("user", ["bank", "zhangsan"])
def test_records_pages_need_records_read(client, world, sample, login, user):
    login(client, user)
    assert client.get(LIST).status_code == 403
    assert client.get(f"{LIST}/{sample.ids['A-P1']}").status_code == 403


def test_english(client, world, sample, login):
    login(client, "officer_a")
    client.cookies.set("lang", "en")
    page = client.get(LIST)
    assert "My records" in page.text and "Administrative penalty" in page.text and "Shown" in page.text
    detail = client.get(f"{LIST}/{sample.ids['A-P2']}")
    assert "Revisions" in detail.text and "Serious" in detail.text and "Revoke this record" in detail.text


@pytest.mark.parametrize(("lang", "shown", "not_shown"), [
    ("zh", ("展示期满", "展示规则变更后重算", "保存期满"), ("display period ended", "display rule changed", "retention ended")),
    ("en", ("display period ended", "display rule changed", "retention ended"), ("展示期满", "保存期满")),
])
def test_the_platform_s_own_reasons_read_in_the_page_s_language(client, world, sample, login, db, lang, shown,
                                                               not_shown):
    """A record the upkeep ended, recomputed and archived shows why in the officer's language: the
    stored reasons (the API's ``status_reason``, unchanged) are the platform's words, not the
    department's, and a Chinese page showed them in English only."""
    from datetime import date

    from tests.support import SYSTEM

    from xinyong.records import service

    rid = sample.ids["A-P1"]  # general, decided 2026-04-01: shown to 2027-04-01, retained to 2031-04-01
    with db.session() as s:
        service.maintain(s, actor=SYSTEM, today=date(2027, 4, 1))  # display period ended
        service.recompute_display(s, item_code="admin_penalty", actor=SYSTEM, today=date(2026, 4, 5))  # shown again
        service.maintain(s, actor=SYSTEM, today=date(2031, 4, 1))  # retention ended
        assert s.get(Record, rid).status == "archived"
    login(client, "officer_a")
    if lang == "en":
        client.cookies.set("lang", "en")
    text = client.get(f"{LIST}/{rid}").text
    for needle in shown:
        assert needle in text, needle
    for needle in not_shown:
        assert needle not in text, needle


def test_an_id_shaped_filter_value_is_not_shown_back(client, world, sample, login):
    """A filter value refused is shown back in the form, but not one of an ID number's shape (a valid
    number the app refuses in a query string before any page; one that is not valid is still not to be
    shown, nor sent again by the form): the filter is marked, its box left empty."""
    login(client, "officer_a")
    raw = "12010119900101123"  # 17 digits and a letter: no valid number, but of its shape
    for params in ({"status": raw + "4"}, {"decided_from": raw + "4"}, {"item": "x" + raw + "4"}):
        page = client.get(LIST, params=params)
        main = page.text.split("<main", 1)[1]  # (the language link above echoes the address the browser sent)
        assert page.status_code == 200 and raw not in main and "筛选条件无法应用" in main, params
        assert 'aria-invalid="true"' in main


@pytest.mark.parametrize(("lang", "shown", "not_shown"), [
    ("zh", ("<dt>处罚决定书文号</dt>", "<li>处罚决定书文号: "), ("decision_no",)),
    ("en", ("<dt>Decision no</dt>", "<li>Decision no: "), ("decision_no", "处罚决定书文号")),
])
def test_the_record_s_fields_are_labelled_for_a_reader(client, world, sample, login, lang, shown, not_shown):
    """The content and each revision label a field by its name (the catalog's Chinese name; on an
    English page the code made readable): the English page and every revision showed the codes
    (decision_no, penalty_type)."""
    login(client, "officer_a")
    client.cookies.set("lang", lang)
    page = client.get(f"{LIST}/{sample.ids['A-P2']}").text.split("<main", 1)[1]
    for needle in shown:
        assert needle in page, needle
    for needle in not_shown:
        assert needle not in page, needle


def test_the_records_pages_name_the_department(client, world, sample, login):
    """The admin's records table and a record's page name the pushing department (the code beside
    it); they showed the code alone (gaj)."""
    import re

    login(client, "admin")
    table = client.get(LIST).text.split('<table', 1)[1]
    row = re.search(rf'<a href="{LIST}/{sample.ids["B-P1"]}">.*?</tr>', table, re.S).group(0)
    assert "公安和平分局 <small><code>gaj</code></small>" in row
    detail = client.get(f"{LIST}/{sample.ids['B-P1']}").text
    assert "<dd>公安和平分局 <code>gaj</code></dd>" in detail
