"""List pages: an officer proposes (ID number in the body only) and notifies; the admin reviews and
decides with CSRF; department isolation; masked identities; refusals shown in place."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import select
from tests.web.web_support import audit, hidden

from xinyong.lists.models import ListEntry

pytestmark = pytest.mark.usefixtures("lists_loaded")


def _propose(client, world, csrf, id_number, **extra):  # type: ignore[no-untyped-def]
    data = {"csrf_token": csrf, "list_code": "key_supervision", "category": "online_fraud", "id_number": id_number,
            "reason": "网络刷单诈骗", **extra}
    return client.post("/lists/propose", data=data, follow_redirects=False)


def test_officer_proposes_and_notifies_admin_decides(client, world, login, session, db):  # type: ignore[no-untyped-def]
    login(client, "officer_a")
    page = client.get("/lists")
    assert page.status_code == 200 and "申请列入失信类名单" in page.text
    assert 'href="/lists"' in page.text  # the nav entry
    csrf = hidden(page.text, "csrf_token")
    r = _propose(client, world, csrf, world.citizen_id_number)
    assert r.status_code == 303, r.text
    assert world.citizen_id_number not in r.headers["location"]
    entry = session.scalar(select(ListEntry).where(ListEntry.subject_id == world.citizen_subject.id))
    assert (entry.status, entry.department_id, entry.category) == ("proposed", world.dept_a.id, "online_fraud")
    detail = client.get(r.headers["location"])
    assert detail.status_code == 200 and world.citizen_id_number not in detail.text
    assert "登记已告知" in detail.text
    r = client.post(f"/list-entries/{entry.id}/notify", data={"csrf_token": csrf, "note": "当面送达"},
                    follow_redirects=False)
    assert r.status_code == 303
    session.refresh(entry)
    assert entry.status == "notified" and entry.defence_deadline is not None
    # Without the CSRF token: refused.
    assert client.post(f"/list-entries/{entry.id}/defence", data={"defence": "x"}).status_code == 403
    client.cookies.clear()
    login(client, "admin")
    overview = client.get("/lists")
    assert f'id="entry-{entry.id}"' in overview.text and str(entry.defence_deadline) in overview.text
    assert world.citizen_id_number not in overview.text
    csrf = hidden(overview.text, "csrf_token")
    # Deadline running and no defence: "list" is refused in place.
    r = client.post(f"/list-entries/{entry.id}/decide", data={"csrf_token": csrf, "decision": "list", "reason": "列入"})
    assert r.status_code == 409 and "申辩期至" in r.text
    # … and registered: the refused step, failed, by the page (the request's rollback took it before)
    [refused] = [e for e in audit(db, "list_entry.decide") if e.outcome == "failed"]
    assert (refused.object_id, refused.details) == (str(entry.id), {"code": "defence_period_running",
                                                                   "field": "decision", "via": "page"})
    r = client.post(f"/list-entries/{entry.id}/decide", data={"csrf_token": csrf, "decision": "reject",
                                                              "reason": "证据不足"}, follow_redirects=False)
    assert r.status_code == 303
    session.refresh(entry)
    assert entry.status == "rejected"
    assert audit(db, "list_entry.read")


def test_officer_page_scope_and_bad_input(client, world, login, session):  # type: ignore[no-untyped-def]
    login(client, "officer_b")
    csrf = hidden(client.get("/lists").text, "csrf_token")
    r = _propose(client, world, csrf, "120101198503091234")  # bad check digit
    assert r.status_code == 422 and "1234" not in r.text.replace("&#34;", "")
    r = _propose(client, world, csrf, world.other_id_number, category="")
    assert r.status_code == 422 and "请选择类别" in r.text and "网络刷单诈骗" in r.text  # kept what was typed
    assert world.other_id_number not in r.text
    r = _propose(client, world, csrf, world.other_id_number)
    assert r.status_code == 303
    eid = int(r.headers["location"].rsplit("/", 1)[1])
    client.cookies.clear()
    login(client, "officer_a")
    assert client.get(f"/list-entries/{eid}").status_code == 404
    assert f"#{eid}" not in client.get("/lists/key_supervision").text
    # Officers have no decide form and may not post one.
    csrf = hidden(client.get("/lists").text, "csrf_token")
    assert client.post(f"/list-entries/{eid}/decide", data={"csrf_token": csrf, "decision": "reject",
                                                            "reason": "x"}).status_code == 403


def test_entries_page_and_remove(client, world, login, session, db):  # type: ignore[no-untyped-def]
    from xinyong.audit.service import Actor
    from xinyong.lists import service

    with session.begin_nested():
        entry = service.add(session, code="red_recommended", subject_id=world.other_subject.id, reason="协会推荐",
                            actor=Actor.system("tests"), today=date(2026, 11, 1))
    session.commit()
    login(client, "admin")
    page = client.get("/lists/red_recommended?status=listed")
    assert page.status_code == 200 and f"#{entry.id}" in page.text and "欧阳**" in page.text
    assert world.other_id_number not in page.text
    assert client.get("/lists/no_such_list").status_code == 404
    csrf = hidden(page.text, "csrf_token")
    r = client.post(f"/list-entries/{entry.id}/remove", data={"csrf_token": csrf, "kind": "decision",
                                                              "reason": "协会撤回推荐"}, follow_redirects=False)
    assert r.status_code == 303
    session.refresh(entry)
    assert (entry.status, entry.removal_kind) == ("removed", "decision")
    r = client.post(f"/list-entries/{entry.id}/remove", data={"csrf_token": csrf, "kind": "decision", "reason": "x"})
    assert r.status_code == 409 and "只有已列入的条目可以移出" in r.text
    assert audit(db, "list_entries.list")


INLINE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=", re.I)


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("user", ["admin", "officer_a", "auditor"])
def test_pages_obey_the_shell(client, world, login, session, lang, user):  # type: ignore[no-untyped-def]
    from xinyong.audit.service import Actor
    from xinyong.lists import service

    with session.begin_nested():
        e = service.propose(session, code="serious_dishonesty", subject_id=world.citizen_subject.id, reason="理由",
                            category="harm_health_life", department_id=world.dept_a.id, actor=Actor.system("t"))
        service.notify(session, entry=e, actor=Actor.system("t"))
    session.commit()
    csrf = login(client, user)
    client.cookies.set("lang", lang)
    for path in ("/lists", "/lists/serious_dishonesty", f"/list-entries/{e.id}"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert r.headers["cache-control"] == "no-store"
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert not INLINE.search(r.text), path
        assert f'<meta name="csrf-token" content="{csrf}">' in r.text
        visible = re.sub(r"<[^>]+>", " ", r.text.split("<main", 1)[1])
        assert re.findall(r"\b(?:lists|entry_status|list_kind|list_source|removal|common|nav)\.[a-z_.]+\b",
                          visible) == [], path
        assert world.citizen_id_number not in r.text


def test_admin_rejects_a_proposal_before_notice(client, world, login, session):  # type: ignore[no-untyped-def]
    """The entry page offers the credit office "reject" for a proposal not yet notified (not "list")."""
    csrf = login(client, "officer_a")
    assert _propose(client, world, csrf, world.citizen_id_number).status_code == 303
    entry = session.scalar(select(ListEntry).where(ListEntry.subject_id == world.citizen_subject.id))
    client.cookies.clear()
    csrf = login(client, "admin")
    page = client.get(f"/list-entries/{entry.id}")
    assert page.status_code == 200 and 'id="decide"' in page.text
    assert 'value="reject"' in page.text and 'value="list"' not in page.text
    r = client.post(f"/list-entries/{entry.id}/decide", data={"csrf_token": csrf, "decision": "reject",
                                                              "reason": "认定对象有误"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    session.refresh(entry)
    assert entry.status == "rejected"
    # the person was never told of it: their page does not show it
    client.cookies.clear()
    login(client, "zhangsan")
    mine = client.get("/my/lists")
    assert mine.status_code == 200 and f'id="entry-{entry.id}"' not in mine.text


def test_a_proposal_refused_for_its_person_is_registered(client, world, login, db):  # type: ignore[no-untyped-def]
    """The proposal form refused for its ID number — invalid, or no such person on the platform — is a
    refused listing step as one the rules refuse is: registered, failed, naming the field (it left no
    trace), and never with the number."""
    from tests.support import assert_no_id_number_in_audit, new_id_number

    login(client, "officer_a")
    csrf = hidden(client.get("/lists").text, "csrf_token")
    unknown = new_id_number()
    assert _propose(client, world, csrf, "120101198503091234").status_code == 422  # bad check digit
    assert _propose(client, world, csrf, unknown).status_code == 404
    failed = [(e.details.get("code"), e.details.get("field"), e.details.get("via"))
              for e in audit(db, "list_entry.propose", outcome="failed")]
    assert failed == [("id_checksum", "id_number", "page"), ("unknown_subject", "id_number", "page")]
    assert_no_id_number_in_audit(db, ["120101198503091234", unknown])


def test_a_decision_the_page_does_not_know_is_refused_in_place_and_registered(  # type: ignore[no-untyped-def]
        client, world, login, session, db):
    """A ``decision`` other than the form's two buttons' (list / reject) is refused on the entry's page,
    naming the field, and registered as a refused step (it was a bare 422 with no trace); the entry is
    unchanged."""
    login(client, "officer_a")
    csrf = hidden(client.get("/lists").text, "csrf_token")
    assert _propose(client, world, csrf, world.citizen_id_number).status_code == 303
    entry = session.scalar(select(ListEntry).where(ListEntry.subject_id == world.citizen_subject.id))
    client.cookies.clear()
    login(client, "admin")
    csrf = hidden(client.get("/lists").text, "csrf_token")
    r = client.post(f"/list-entries/{entry.id}/decide", data={"csrf_token": csrf, "decision": "approve",
                                                              "reason": "列入"})
    assert r.status_code == 422 and "决定只能是" in r.text
    [refused] = [e for e in audit(db, "list_entry.decide") if e.outcome == "failed"]
    assert (refused.object_id, refused.details) == (str(entry.id), {"code": "invalid_decision",
                                                                   "field": "decision", "via": "page"})
    session.refresh(entry)
    assert entry.status == "proposed"


@pytest.mark.parametrize(("lang", "category"), [("zh", "网络欺诈"), ("en", "Online fraud")])
def test_pages_name_the_category_and_the_department(client, world, login, lang, category):  # type: ignore[no-untyped-def]
    """The entries table, the review queue and the entry page name an entry's category and deciding
    department in the reader's language, as a person expects, not by their codes (`online_fraud`,
    `scjgj` alone)."""
    login(client, "officer_a")
    client.cookies.set("lang", lang)
    r = _propose(client, world, hidden(client.get("/lists").text, "csrf_token"), world.citizen_id_number)
    assert r.status_code == 303, r.text
    entry_page = client.get(r.headers["location"]).text
    client.cookies.clear()
    login(client, "admin")
    client.cookies.set("lang", lang)
    entries = client.get("/lists/key_supervision")
    assert entries.status_code == 200
    row = re.search(r'<tbody>(.*?)</tbody>', entries.text, re.S).group(1)
    assert f"<td>{category}</td>" in row and ">online_fraud<" not in row
    queue = re.search(r'<table class="striped" id="queue">(.*?)</table>', client.get("/lists").text, re.S).group(1)
    for html in (row, queue, entry_page):
        assert "区市场监管局" in html  # the department's name (it has no English one), its code beside it
        assert "<code>scjgj</code></td>" not in html and "<dd><code>scjgj</code></dd>" not in html


def test_the_officer_s_lists_page_names_the_department_in_the_page_s_language(client, world, login, db):  # type: ignore[no-untyped-def]
    """An officer's lists page names their department under its title, as the other workspace pages
    do: in Chinese on the English page too (区市场监管局 scjgj), where those give the English name."""
    from sqlalchemy import update

    from xinyong.auth.models import Department

    with db.session() as s:
        s.execute(update(Department).where(Department.code == "scjgj").values(name_en="District Market Regulation Bureau"))
    login(client, "officer_a")
    client.cookies.set("lang", "en")
    html = client.get("/lists").text
    assert "<p>District Market Regulation Bureau <code>scjgj</code></p>" in html and "区市场监管局" not in html
    client.cookies.set("lang", "zh")
    assert "<p>区市场监管局 <code>scjgj</code></p>" in client.get("/lists").text


def test_an_id_number_typed_as_the_category_is_never_shown_back(client, world, login):  # type: ignore[no-untyped-def]
    """A category the list does not have is refused naming what was typed: an ID number typed there
    (a forged form, a paste in the wrong box) is masked in the message the page shows, as the API's
    error body masks it."""
    from tests.support import new_id_number

    number = new_id_number()
    login(client, "officer_a")
    csrf = hidden(client.get("/lists").text, "csrf_token")
    r = _propose(client, world, csrf, world.other_id_number, category=number)
    assert r.status_code == 422 and "不在该名单的类别中" in r.text
    assert number not in r.text and number[6:14] not in r.text
    assert number[:6] + "********" + number[-4:] in r.text
