"""The admin console's catalog pages: list, detail, edit (a new version), refusals shown in the
form without changing anything, "apply to existing records", and who may see them."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select
from tests.web.web_support import audit

from xinyong.catalog.models import CatalogItem
from xinyong.catalog.service import get_current
from xinyong.records.models import Record

BASE = "/admin/catalog"


def _form(page_html: str, **changes: object) -> dict[str, object]:
    """The admin_penalty edit form as the page fills it in, with ``changes`` applied."""
    import re

    data: dict[str, object] = {}
    for name, value in re.findall(r'<input type="(?:hidden|text|number)" name="([^"]+)" value="([^"]*)"', page_html):
        data[name] = value
    for name in re.findall(r'<input type="checkbox"[^>]*name="(display\.[^"]+)"[^>]*checked', page_html):
        data[name] = "on"
    data["departments"] = re.findall(r'name="departments" value="([^"]+)" checked', page_html)
    m = re.search(r'<select name="visibility"[^>]*>.*?<option value="([^"]+)" selected', page_html, re.S)
    data["visibility"] = m.group(1) if m else ""
    m = re.search(r'<textarea name="legal_basis"[^>]*>(.*?)</textarea>', page_html, re.S)
    data["legal_basis"] = (m.group(1) if m else "").replace("&lt;", "<").replace("&gt;", ">")
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def _versions(db, code: str = "admin_penalty") -> list[int]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return list(s.scalars(select(CatalogItem.version).where(CatalogItem.code == code).order_by(CatalogItem.version)))


def test_the_catalog_list(client, world, catalog_loaded, login):
    login(client, "admin")
    page = client.get(BASE)
    assert page.status_code == 200
    for needle in ("admin_penalty", "行政处罚信息", "失信信息", "社会公开", "轻微", "一般", "严重", "3–12 个月",
                   "12–36 个月", "不公示", "dishonest_debtor", "0–24 个月", "honor", "v1",
                   f'href="{BASE}/admin_penalty"'):
        assert needle in page.text, needle


def test_the_item_page_shows_definition_history_and_form(client, world, catalog_loaded, login):
    csrf = login(client, "admin")
    page = client.get(f"{BASE}/admin_penalty")
    assert page.status_code == 200
    for needle in ("处罚决定书文号", "版本历史", "作出决定后 7 个工作日内", "5 年", 'name="display.general.max_months"',
                   'name="display.minor.publish"', 'name="visibility"', 'name="departments" value="*" checked',
                   'name="legal_basis"', 'name="recompute"', f'value="{csrf}"', "区市场监管局"):
        assert needle in page.text, needle
    assert client.get(f"{BASE}/no_such_item").status_code == 404


def test_an_edit_makes_a_new_version(client, world, catalog_loaded, login, db):
    login(client, "admin")
    page = client.get(f"{BASE}/admin_penalty")
    data = _form(page.text, **{"display.general.max_months": "24", "visibility": "authorized",
                               "note": "按新规延长一般处罚展示期", "legal_basis": "新依据"})
    data["departments"] = ["scjgj", "gaj"]
    r = client.post(f"{BASE}/admin_penalty", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"{BASE}/admin_penalty?saved=2"
    assert _versions(db) == [1, 2]
    with db.session() as s:
        item = get_current(s, "admin_penalty")
        assert item.version == 2
        assert item.spec.display["general"].max_months == 24 and item.spec.display["general"].min_months == 3
        assert item.spec.display["serious"].max_months == 36 and not item.spec.display["minor"].publish
        assert item.spec.visibility == "authorized" and item.spec.departments == ("scjgj", "gaj")
        assert item.spec.legal_basis == "新依据"
        assert [f.name for f in item.spec.fields][:2] == ["decision_no", "violation"]  # fields kept
    page = client.get(r.headers["location"])
    assert "已保存为第 2 版" in page.text and "按新规延长一般处罚展示期" in page.text
    assert "display.by_severity.general.max_months" in page.text  # the history names what changed
    # the definition names the departments allowed (it listed their codes alone), the code beside
    assert "<dd>区市场监管局 <code>scjgj</code>、公安和平分局 <code>gaj</code></dd>" in page.text
    assert len(audit(db, "catalog.update", actor_label="admin")) == 1
    # the same form again changes nothing
    page = client.get(f"{BASE}/admin_penalty")
    r = client.post(f"{BASE}/admin_penalty", data={**_form(page.text), "departments": ["scjgj", "gaj"]},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("unchanged=1")
    assert _versions(db) == [1, 2]


def test_the_same_form_sent_back_as_the_page_orders_its_departments_changes_nothing(client, world, catalog_loaded,
                                                                                   login, db):
    """The page lists the departments in its own order (by code), not in the order the definition
    holds them: the same choice sent back is no change, and no new version for the records."""
    login(client, "admin")
    page = client.get(f"{BASE}/admin_penalty")
    r = client.post(f"{BASE}/admin_penalty", data={**_form(page.text), "departments": ["scjgj", "gaj"]},
                    follow_redirects=False)
    assert r.headers["location"] == f"{BASE}/admin_penalty?saved=2"
    page = client.get(f"{BASE}/admin_penalty")
    assert _form(page.text)["departments"] == ["gaj", "scjgj"]  # as a browser sends the page's checked boxes
    r = client.post(f"{BASE}/admin_penalty", data=_form(page.text), follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("unchanged=1")
    assert _versions(db) == [1, 2]
    assert len(audit(db, "catalog.update", actor_label="admin")) == 1


def test_no_department_checked_withdraws_the_item(client, world, catalog_loaded, login, db):
    """Every box unchecked is a rule (停止归集), said so on the page, not a refused form."""
    login(client, "admin")
    page = client.get(f"{BASE}/admin_penalty")
    assert "一个都不勾选即停止归集" in page.text
    r = client.post(f"{BASE}/admin_penalty", data=_form(page.text, departments=[]), follow_redirects=False)
    assert r.status_code == 303, r.text
    assert _versions(db) == [1, 2]
    shown = client.get(f"{BASE}/admin_penalty")
    assert "无（已停止归集" in shown.text and _form(shown.text)["departments"] == []


@pytest.mark.parametrize(("changes", "message", "path"), [
    ({"display.general.min_months": "60"}, "最短展示期不能长于最长展示期", "admin_penalty.display.by_severity.general"),
    ({"display.serious.max_months": "abc"}, "应为0至1200之间的整数", "admin_penalty.display.by_severity.serious.max_months"),
    ({"display.minor.max_months": "5000"}, "应为0至1200之间的整数", "admin_penalty.display.by_severity.minor.max_months"),
    ({"visibility": "everyone"}, "可见范围应为", "admin_penalty.visibility"),
    ({"departments": ["nosuchdept"]}, "未知部门", "departments"),
    ({"version": "0"}, "请刷新页面后重新编辑", "version"),
])
def test_a_refused_edit_shows_the_error_and_changes_nothing(client, world, catalog_loaded, login, db, changes,
                                                           message, path):
    login(client, "admin")
    page = client.get(f"{BASE}/admin_penalty")
    data = _form(page.text, **{"display.general.max_months": "48"}, **changes)
    r = client.post(f"{BASE}/admin_penalty", data=data, follow_redirects=False)
    assert r.status_code == 422
    assert message in r.text and f"<code>{path}</code>" in r.text
    if path == "version":  # a stale form comes back with the current version's values
        assert 'name="version" value="1"' in r.text and 'value="48"' not in r.text
    else:
        assert 'aria-invalid="true"' in r.text and 'value="48"' in r.text  # the form keeps what was typed
    assert _versions(db) == [1]
    # nothing saved, the refusal registered: its code and path, never what was typed
    [refused] = audit(db, "catalog.update")
    assert refused.outcome == "failed" and refused.details["field"] == path and refused.details["via"] == "page"
    assert refused.details["item"] == "admin_penalty" and refused.details["code"]
    assert "48" not in str(refused.details) and "nosuchdept" not in str(refused.details)


def test_apply_to_existing_records(client, world, sample, login, db):
    login(client, "admin")
    rid = sample.ids["A-P1"]  # general, decided 2026-04-01: shown until 2027-04-01
    with db.session() as s:
        assert s.get(Record, rid).display_until == date(2027, 4, 1)
    page = client.get(f"{BASE}/admin_penalty")
    data = _form(page.text, **{"display.general.max_months": "6", "recompute": "1"})
    r = client.post(f"{BASE}/admin_penalty", data=data, follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == f"{BASE}/admin_penalty/recompute?saved=2"
    r = client.post(r.headers["location"], data=data, follow_redirects=False)  # what the browser does
    assert r.status_code == 303
    assert r.headers["location"].startswith(f"{BASE}/admin_penalty?") and "recomputed=" in r.headers["location"]
    with db.session() as s:
        rec = s.get(Record, rid)
        assert rec.display_until == date(2026, 10, 1) and rec.status == "expired" and rec.revision == 2
        assert s.get(Record, sample.ids["B-P1"]).display_until == date(2026, 11, 6)
    page = client.get(r.headers["location"])
    assert "已保存为第 2 版" in page.text and "已重算已有记录" in page.text
    assert len(audit(db, "record.recompute")) >= 2


def test_the_recompute_button_alone(client, world, sample, login, db):
    csrf = login(client, "admin")
    r = client.post(f"{BASE}/admin_penalty/recompute", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"{BASE}/admin_penalty?recomputed=0"
    assert client.post(f"{BASE}/admin_penalty/recompute", data={}).status_code == 403
    assert client.post(f"{BASE}/nothing/recompute", data={"csrf_token": csrf}).status_code == 404
    refused = audit(db, "records.recompute_display", outcome="failed")
    assert [e.details for e in refused] == [{"item": "nothing", "code": "unknown_item", "field": "item", "via": "page"}]


def test_catalog_edit_needs_the_csrf_token(client, world, catalog_loaded, login, db):
    login(client, "admin")
    page = client.get(f"{BASE}/admin_penalty")
    data = _form(page.text, **{"display.general.max_months": "24"})
    data.pop("csrf_token")
    assert client.post(f"{BASE}/admin_penalty", data=data).status_code == 403
    assert _versions(db) == [1]


@pytest.mark.parametrize("user", ["officer_a", "bank", "zhangsan", "auditor"])
def test_the_catalog_console_is_for_the_credit_office(client, world, catalog_loaded, login, db, user):
    csrf = login(client, user)
    for path in (BASE, f"{BASE}/admin_penalty"):
        r = client.get(path)
        assert r.status_code == 403 and "无权访问" in r.text
    r = client.post(f"{BASE}/admin_penalty", data={"csrf_token": csrf, "visibility": "public"})
    assert r.status_code == 403
    assert client.post(f"{BASE}/admin_penalty/recompute", data={"csrf_token": csrf}).status_code == 403
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(CatalogItem).where(CatalogItem.version > 1)) == 0
    assert len(audit(db, "auth.forbidden", actor_label=user)) == 4


def _definition(page_html: str) -> str:
    import html
    import re

    m = re.search(r'<textarea name="definition"[^>]*>(.*?)</textarea>', page_html, re.S)
    assert m is not None
    return html.unescape(m.group(1))


def test_a_definition_nested_thousands_deep_is_refused_not_a_500(client, world, catalog_loaded, login, db):
    """PyYAML composes nested lists recursively: a definition ``[[[[…`` thousands deep raised
    RecursionError, a 500; it is refused as YAML that does not parse, registered, and nothing changes."""
    csrf = login(client, "admin")
    r = client.post(f"{BASE}/admin_penalty/definition",
                    data={"definition": "code: " + "[" * 3000 + "]" * 3000 + "\n", "version": "1", "note": "x",
                          "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 422 and "YAML 格式错误" in r.text, r.text[-2000:]
    assert _versions(db) == [1]
    assert [e.details["code"] for e in audit(db, "catalog.update", outcome="failed")] == ["invalid_yaml"]


def test_the_full_definition_is_edited_as_yaml(client, world, catalog_loaded, login, db):
    """What the form does not edit — names, fields and their allowed values, retention — is edited
    as the item's YAML, checked as the API checks it, saved as a new version; refusals keep the text
    and change nothing."""
    import yaml

    csrf = login(client, "admin")
    page = client.get(f"{BASE}/admin_penalty")
    text = _definition(page.text)
    data = yaml.safe_load(text)
    assert data["code"] == "admin_penalty" and any(f["name"] == "penalty_type" for f in data["fields"])

    def post(definition: str, version: str = "1"):  # type: ignore[no-untyped-def]
        return client.post(f"{BASE}/admin_penalty/definition", data={"definition": definition, "version": version,
                                                                      "note": "新增处罚类别", "csrf_token": csrf},
                           follow_redirects=False)

    for bad, message in (("code: [unclosed\n", "YAML 格式错误（第 "),
                         (text.replace("category: bad", "category: weird"), "类别"),
                         (text.replace("code: admin_penalty", "code: admin_other"), "代码不能更改"),
                         ("- just a list\n", "键值映射"),
                         (text.replace("departments:\n- '*'", "departments:\n- nosuchdept"), "未知部门")):
        assert bad != text
        r = post(bad)
        assert r.status_code == 422 and message in r.text, (message, r.text[-3000:])
        assert 'aria-invalid="true"' in r.text
        assert _versions(db) == [1]
    stale = post(text, version="0")
    assert stale.status_code == 422 and "请刷新页面后重新编辑" in stale.text
    # each refusal registered with its code and path, never the text typed
    refused = audit(db, "catalog.update", outcome="failed")
    assert [(e.details["code"], e.details["field"], e.details["via"]) for e in refused] == [
        ("invalid_yaml", "definition", "page"), ("invalid_spec", "admin_penalty.category", "page"),
        ("invalid_definition", "definition", "page"), ("invalid_definition", "definition", "page"),
        ("unknown_department", "departments", "page"), ("stale_form", "version", "page")]
    assert not any("新增处罚类别" in str(e.details) or "nosuchdept" in str(e.details) for e in refused)

    field = next(f for f in data["fields"] if f["name"] == "penalty_type")
    field["allowed"] = [*field["allowed"], "责令改正"]
    data["name_en"] = "Administrative penalty (edited)"
    ok = post(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    assert ok.status_code == 303 and ok.headers["location"] == f"{BASE}/admin_penalty?saved=2"
    with db.session() as s:
        item = get_current(s, "admin_penalty")
        assert item.version == 2 and item.spec.name_en == "Administrative penalty (edited)"
        assert "责令改正" in next(f for f in item.spec.fields if f.name == "penalty_type").allowed
    assert len(audit(db, "catalog.update", actor_label="admin", outcome="ok")) == 1
    again = post(_definition(client.get(f"{BASE}/admin_penalty").text), version="2")
    assert again.status_code == 303 and again.headers["location"].endswith("unchanged=1")


@pytest.mark.parametrize(("lang", "shown", "hidden"), [("zh", "流通服务", "Distribution and services"),
                                                       ("en", "Distribution and services", "流通服务")])
def test_the_item_page_names_its_key_field_in_the_page_s_language(client, world, catalog_loaded, login, lang,
                                                                   shown, hidden):
    """The plan's key fields (重点领域) are named in English on the English page; it showed 流通服务."""
    import re

    login(client, "admin")
    client.cookies.set("lang", lang)
    page = client.get(f"{BASE}/admin_penalty").text
    definition = re.search(r'<dl class="identity">(.*?)</dl>', page, re.S).group(1)
    assert f"<dd>{shown}</dd>" in definition and hidden not in definition


def test_a_debtor_items_extension_and_retention_start_are_shown_and_kept_by_the_form(client, world, catalog_loaded,
                                                                                    login, db):
    """The form edits periods, visibility, departments and legal basis; the field-dependent rules it
    does not show are kept, and the page and the API name them."""
    login(client, "admin")
    page = client.get(f"{BASE}/dishonest_debtor")
    for needle in ("展示期延长", "延长失信期限（年）", "12 个月", "违法失信行为终止日期"):
        assert needle in page.text, needle
    r = client.post(f"{BASE}/dishonest_debtor", data=_form(page.text, **{"display.default.max_months": "30"}),
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    with db.session() as s:
        spec = get_current(s, "dishonest_debtor").spec
        assert spec.display["default"].max_months == 30
        assert (spec.display_extension, spec.retention_from) == (("extension_years", 12), "act_ended_on")
    api = client.get("/api/v1/catalog/items/dishonest_debtor").json()
    assert api["display_extension"] == {"field": "extension_years", "months": 12}
    assert api["retention_from"] == "act_ended_on"
    assert api["spec"]["display"]["extension"] == {"field": "extension_years", "months": 12}


def test_an_item_naming_a_code_that_is_no_department_still_shows(client, world, catalog_loaded, login, db):
    """A rule may name a code no department has (saved by the API before it refused unknown codes, or
    a department code of another kind): the definition names the departments it finds and gives the
    others by their code. Looked up with ``first`` on nothing found, the page failed (500)."""
    from sqlalchemy import update

    from xinyong.catalog.models import CatalogItem

    with db.session() as s:
        row = s.scalars(select(CatalogItem).where(CatalogItem.code == "honor", CatalogItem.is_current.is_(True))).one()
        s.execute(update(CatalogItem).where(CatalogItem.id == row.id)
                  .values(spec={**row.spec, "departments": ["scjgj", "oldtypo"]}))
    login(client, "admin")
    page = client.get(f"{BASE}/honor")
    assert page.status_code == 200, page.text[:300]
    assert "<dd>区市场监管局 <code>scjgj</code>、<code>oldtypo</code></dd>" in page.text
