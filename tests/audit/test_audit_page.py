"""The audit log's page (``GET /audit``): who may see it, its filters and paging, a filter it cannot
apply, the chain's state, and that every look is itself registered (``audit.read``, ``via: page``)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import update
from tests.web.web_support import ROLE_USERS, audit

from xinyong.audit.models import AuditCheckpoint, AuditEntry
from xinyong.audit.service import Actor, record, seal_pending, write_checkpoint
from xinyong.privacy.masking import mask_id_number

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
INLINE_STYLE = re.compile(r"<style\b|\sstyle=|\son[a-z]+=", re.I)
ROW_IDS = re.compile(r"<tr>\s*<td>(\d+)<br>")
CLERK = Actor(type="user", id="990", label="clerk_x", department_id=7)


def ids(page: str) -> list[int]:
    return [int(i) for i in ROW_IDS.findall(page)]


def add(db, n: int = 1, *, action: str = "test.event", actor: Actor = CLERK, outcome: str = "ok",
        object_type: str | None = "thing", object_id: str | None = "1", details: dict | None = None,
        at: datetime | None = None) -> list[int]:
    made = []
    with db.session() as s:
        for _ in range(n):
            e = record(s, actor=actor, action=action, object_type=object_type, object_id=object_id,
                       outcome=outcome, details=details or {"n": 1})
            if at is not None:
                e.occurred_at = at
            s.flush()
            made.append(e.id)
    return made


def page_reads(db) -> list[AuditEntry]:
    return [e for e in audit(db, "audit.read") if e.details.get("via") == "page"]


@pytest.mark.parametrize("role", ["admin", "auditor"])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_page_for_those_who_read_the_log(client, world, login, db, role, lang):
    csrf = login(client, ROLE_USERS[role])
    made = add(db, 3)
    client.cookies.set("lang", lang)
    r = client.get("/audit")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert not INLINE_SCRIPT.search(r.text) and not INLINE_STYLE.search(r.text)
    assert f'<meta name="csrf-token" content="{csrf}">' in r.text
    assert ("审计日志" if lang == "zh" else "Audit log") in r.text
    shown = ids(r.text)
    assert shown == sorted(shown, reverse=True)  # newest first
    assert shown[:3] == made[::-1]  # (the login's entries came before them; this read comes after)
    row = r.text.split(f"<tr>\n        <td>{made[-1]}<br>", 1)[1].split("</tr>", 1)[0]
    assert "clerk_x" in row and "test.event" in row and "thing" in row
    assert ("成功" if lang == "zh" else "OK") in row
    assert html.unescape(row).count('{"n": 1}') == 1


def test_the_navigation_links_to_the_page(client, world, login):
    login(client, "auditor")
    home = client.get("/").text
    assert '<a href="/audit"' in home and "/api/v1/audit/entries" not in home


@pytest.mark.parametrize("role", ["officer", "citizen", "institution"])
def test_other_roles_are_refused(client, world, login, db, role):
    login(client, ROLE_USERS[role])
    r = client.get("/audit")
    assert r.status_code == 403
    assert "clerk_x" not in r.text
    refused = audit(db, "auth.forbidden")
    assert refused[-1].details == {"path": "/audit", "permission": "audit.read"}
    assert page_reads(db) == []


def test_unauthenticated_is_not_shown_the_log(client, world, db):
    add(db)
    r = client.get("/audit", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/audit"
    assert "clerk_x" not in r.text


def test_each_look_is_registered(client, world, login, db):
    add(db, 2, action="test.mine")
    login(client, "auditor")
    r = client.get("/audit", params={"action": "test.mine", "outcome": "ok"})
    assert len(ids(r.text)) == 2
    entry = page_reads(db)[-1]
    assert entry.outcome == "ok" and entry.actor_label == "auditor"
    assert entry.details == {"filter": {"action": "test.mine", "actor": None, "outcome": "ok", "object_type": None,
                                        "object_id": None, "occurred_from": None, "occurred_to": None},
                             "before_id": None, "count": 2, "via": "page"}
    # the next look lists the previous one
    again = client.get("/audit", params={"action": "audit.read"})
    assert entry.id in ids(again.text)


def test_filters(client, world, login, db):
    other = Actor(type="apikey", id="55", label="gaj:业务系统B", department_id=2)
    a = add(db, action="test.f", object_type="record", object_id="17")
    b = add(db, action="test.f", actor=other, outcome="denied", object_type="record", object_id="18")
    c = add(db, action="test.g", outcome="failed", object_type="user", object_id="17")
    login(client, "admin")

    def listed(**params: str) -> list[int]:
        r = client.get("/audit", params=params)
        assert r.status_code == 200 and "filter-refused" not in r.text
        return ids(r.text)

    assert listed(action="test.f") == b + a
    assert listed(actor="clerk_x", object_type="record") == a
    assert listed(actor="55") == b  # by id too
    assert listed(actor="gaj:业务系统B") == b
    assert listed(outcome="denied", action="test.f") == b
    assert listed(outcome="failed", actor="clerk_x") == c
    assert listed(object_id="17", actor="clerk_x") == c + a
    assert listed(object_type="record", object_id="18") == b
    assert listed(action="test.nothing") == []


def test_the_date_range_is_in_the_district_time_zone(client, world, login, db):
    # 17:00 UTC on 1 March is 01:00 on 2 March in Beijing
    late = add(db, action="test.day", at=datetime(2026, 3, 1, 17, 0, tzinfo=UTC))
    early = add(db, action="test.day", at=datetime(2026, 3, 1, 15, 59, tzinfo=UTC))  # 23:59 on 1 March
    login(client, "auditor")

    def listed(**params: str) -> list[int]:
        return ids(client.get("/audit", params={"action": "test.day", **params}).text)

    assert listed(occurred_from="2026-03-02", occurred_to="2026-03-02") == late
    assert listed(occurred_to="2026-03-01") == early
    assert listed(occurred_from="2026-03-01") == early + late  # newest (by id) first
    assert listed(occurred_from="2026-03-03") == []
    assert page_reads(db)[-1].details["filter"]["occurred_to"] is None


def test_paging(client, world, login, db):
    made = add(db, 63, action="test.page")
    login(client, "auditor")
    first = client.get("/audit", params={"action": "test.page"})
    assert ids(first.text) == made[::-1][:50]
    nxt = re.search(r'href="(/audit\?[^"]+)"[^>]*rel="next"', first.text)
    assert nxt
    link = html.unescape(nxt.group(1))
    assert "action=test.page" in link and f"before_id={made[13]}" in link
    second = client.get(link)
    assert ids(second.text) == made[::-1][50:]
    assert 'rel="next"' not in second.text and "第一页" in second.text
    assert page_reads(db)[-1].details["before_id"] == made[13]
    assert page_reads(db)[-1].details["count"] == 13
    # HTMX paging gets the results alone
    part = client.get(link, headers={"HX-Request": "true"})
    assert part.text.lstrip().startswith('<div id="audit-results">')
    assert "<html" not in part.text and ids(part.text) == made[::-1][50:]


@pytest.mark.parametrize(("params", "field", "code"), [
    ({"outcome": "maybe"}, "outcome", "bad_outcome"),
    ({"occurred_from": "2026-13-01"}, "occurred_from", "bad_date"),
    ({"occurred_from": "2026-03-05", "occurred_to": "2026-03-01"}, "occurred_to", "bad_range"),
    ({"action": "test event<b>"}, "action", "bad_action"),
    ({"object_type": "x" * 33}, "object_type", "bad_object_type"),
    ({"object_id": "12345678901234567"}, "object_id", "id_number"),  # 17 digits: an ID number's shape
])
def test_a_filter_it_cannot_apply_lists_nothing(client, world, login, db, params, field, code):
    add(db, 2, action="test.r")
    login(client, "admin")
    r = client.get("/audit", params={"action": "test.r", **params})
    assert r.status_code == 200
    assert 'id="filter-refused"' in r.text and "筛选条件无法应用" in r.text
    assert ids(r.text) == [] and "暂无记录" not in r.text
    assert f'name="{field}"' in r.text and 'aria-invalid="true"' in r.text
    assert "12345678901234567" not in r.text  # an ID number's shape is never shown back
    entry = audit(db, "audit.read")[-1]
    assert entry.outcome == "failed"
    assert entry.details["errors"] == [code] and entry.details["fields"] == [field]
    assert entry.details["count"] == 0 and entry.details["via"] == "page"
    if field != "action":
        assert entry.details["filter"]["action"] == "test.r"  # the filters applied …
    if code != "bad_range":  # (a reversed range's two dates are each readable)
        assert entry.details["filter"][field] is None  # … never what was typed for the refused one


def test_a_query_the_schema_refuses_is_registered(client, world, login, db):
    login(client, "auditor")
    r = client.get("/audit", params={"actor": "x" * 200})
    assert r.status_code == 422
    entry = audit(db, "audit.read")[-1]
    assert entry.outcome == "failed" and entry.details["via"] == "page" and entry.details["field"] == "actor"
    assert "x" * 200 not in str(entry.details)


def test_details_are_shown_escaped(client, world, login, db):
    add(db, action="test.xss", details={"note": "<script>alert(1)</script>", "name": "张*"})
    login(client, "auditor")
    r = client.get("/audit", params={"action": "test.xss"})
    assert "<script>alert(1)" not in r.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    assert not INLINE_SCRIPT.search(r.text)


def test_long_details_are_cut_and_point_to_the_whole_entry(client, world, login, db):
    (eid,) = add(db, action="test.long", details={"records": list(range(3000))})
    login(client, "auditor")
    r = client.get("/audit", params={"action": "test.long"})
    assert f"before_id={eid + 1}&amp;limit=1" in r.text
    assert "2999" not in r.text


def test_no_raw_id_number_in_the_page(client, world, login, db, vault):
    cid = world.citizen_id_number
    # written by the platform (masked when written) …
    add(db, action="test.id", details={"who": cid}, object_id=cid)
    # … and, defence in depth, a row that reached the table unmasked some other way
    with db.session() as s:
        s.add(AuditEntry(occurred_at=datetime.now(UTC), actor_type="system", actor_label=f"x{cid}",
                         action="test.id", object_type="subject", object_id=cid, outcome="ok",
                         details={"id_number": cid, "note": f"查询 {cid}"}))
    login(client, "admin")
    page = client.get("/audit").text + client.get("/audit", params={"action": "test.id"}).text
    assert cid not in page and cid not in html.unescape(page)
    assert mask_id_number(cid) in html.unescape(page)


def test_the_chain_state_against_the_latest_checkpoint(client, world, login, db, vault):
    login(client, "auditor")
    assert "尚无签名检查点" in client.get("/audit").text
    with db.session() as s:
        seal_pending(s)
    with db.session() as s:
        doc = write_checkpoint(s, ring=vault.ring, directory=None)
    add(db, 2)
    page = client.get("/audit").text
    assert f"最近的签名检查点：第 {doc['seq']} 条" in page and "与审计链一致" in page
    assert "待封存" in page and "xinyong audit verify" in page
    with db.session() as s:  # the entry the checkpoint signed is rewritten
        s.execute(update(AuditEntry).where(AuditEntry.seq == doc["seq"]).values(entry_hash="0" * 64))
    page = client.get("/audit").text
    assert "与检查点签名的哈希不一致" in page and "与审计链一致" not in page


def test_a_checkpoint_row_not_signed_by_the_platform_is_flagged(client, world, login, db, vault):
    with db.session() as s:
        seal_pending(s)
    with db.session() as s:
        write_checkpoint(s, ring=vault.ring, directory=None)
    with db.session() as s:  # someone able to write rows rewrote the checkpoint's hash without the key
        s.execute(update(AuditCheckpoint).values(head_hash="f" * 64))
    login(client, "auditor")
    page = client.get("/audit").text
    assert "签名无效" in page and "与审计链一致" not in page


@pytest.mark.parametrize(("lang", "name"), [("zh", "区市场监管局 (scjgj)"), ("en", "scjgj")])
def test_an_entry_names_its_department_not_its_number(client, world, login, db, lang, name):
    """A reader knows a department by its name: "部门 1" said nothing."""
    login(client, ROLE_USERS["auditor"])
    [made] = add(db, actor=Actor(type="user", id="991", label="clerk_y", department_id=world.dept_a.id))
    client.cookies.set("lang", lang)
    r = client.get("/audit")
    row = r.text.split(f"<tr>\n        <td>{made}<br>", 1)[1].split("</tr>", 1)[0]
    assert name in html.unescape(row), row
