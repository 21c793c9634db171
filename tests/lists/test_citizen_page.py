"""The citizen's own list page, /my/lists: only their own entries they were told of, their red lists,
the defence form while the period runs (the same service step as the API), refusals shown in place,
audited views, the shell's headers; other people's entries and other roles are refused."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from tests.web.web_support import audit, hidden

from xinyong import clock
from xinyong.audit.service import Actor
from xinyong.lists import service
from xinyong.lists.models import ListEntry

pytestmark = pytest.mark.usefixtures("lists_loaded")

OFFICER = Actor(type="user", id="7", label="officer_a")
ADMIN = Actor(type="user", id="1", label="admin")
PAGE = "/my/lists"


def _entry(db, world, subject, *, code="key_supervision", category="online_fraud", reason="网络刷单诈骗",  # type: ignore[no-untyped-def]
           notified_on: date | None = None) -> int:
    """A proposed entry, notified on ``notified_on`` if given (the deadline counts from that day)."""
    with db.session() as s:
        entry = service.propose(s, code=code, subject_id=subject.id, reason=reason, category=category,
                                department_id=world.dept_a.id, actor=OFFICER)
        if notified_on is not None:
            service.notify(s, entry=entry, actor=OFFICER, today=notified_on)
        s.flush()
        return entry.id


def _deadline(db, entry_id):  # type: ignore[no-untyped-def]
    with db.session() as s:
        return s.get(ListEntry, entry_id).defence_deadline


def _defend(client, csrf, entry_id, text="本人不知情，款项已退还"):  # type: ignore[no-untyped-def]
    return client.post(f"{PAGE}/{entry_id}/defence", data={"csrf_token": csrf, "defence": text},
                       follow_redirects=False)


def test_page_shows_own_told_entries_and_red_lists_only(client, world, login, db) -> None:  # type: ignore[no-untyped-def]
    told = _entry(db, world, world.citizen_subject, reason="网络刷单诈骗", notified_on=clock.today())
    untold = _entry(db, world, world.citizen_subject, code="serious_dishonesty", category="harm_health_life",
                    reason="尚未告知的申请")
    others = _entry(db, world, world.other_subject, reason="他人的条目", notified_on=clock.today())
    with db.session() as s:
        red = service.add(s, code="red_recommended", subject_id=world.citizen_subject.id, reason="行业协会推荐诚信会员",
                          actor=ADMIN, department_id=world.dept_b.id).id
    login(client, "zhangsan")
    r = client.get(PAGE)
    assert r.status_code == 200
    assert f'id="entry-{told}"' in r.text and "网络刷单诈骗" in r.text and "网络欺诈" in r.text
    assert world.dept_a.name in r.text  # the deciding department by name
    assert str(_deadline(db, told)) in r.text  # the defence deadline
    assert f'id="entry-{untold}"' not in r.text and "尚未告知的申请" not in r.text
    assert f'id="entry-{others}"' not in r.text and "他人的条目" not in r.text
    red_section = r.text.split('id="red"', 1)[1]
    assert f'id="entry-{red}"' in red_section and "行业协会推荐诚信会员" in red_section
    with db.session() as s:
        red_ends = s.get(ListEntry, red).valid_until
    # valid_until is the day the entry leaves the list, so the page says so ("有效期至" read a day long)
    assert red_ends is not None and f"<dt>期满移出日</dt><dd>{red_ends}</dd>" in red_section
    assert world.citizen_id_number not in r.text and world.other_id_number not in r.text
    assert r.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert " style=" not in r.text and "lists.my_" not in r.text  # CSP-clean, every message key resolved
    assert hidden(r.text, "csrf_token")  # the defence form is offered
    views = audit(db, "list_entries.list", object_type="subject", object_id=str(world.citizen_subject.id))
    assert views and views[-1].details["mine"] and views[-1].details["count"] == 2
    client.cookies.set("lang", "en")
    r = client.get(PAGE)
    assert r.status_code == 200 and "My list entries" in r.text and "Red lists" in r.text
    assert "Defence deadline" in r.text and "Online fraud" in r.text


def test_defence_before_the_deadline_then_refused_again(client, world, login, db) -> None:  # type: ignore[no-untyped-def]
    eid = _entry(db, world, world.citizen_subject, notified_on=clock.today())
    csrf = login(client, "zhangsan")
    page = client.get(PAGE)
    assert f'action="{PAGE}/{eid}/defence"' in page.text
    # Without the CSRF token: refused, nothing stored.
    assert client.post(f"{PAGE}/{eid}/defence", data={"defence": "x"}).status_code == 403
    r = _defend(client, csrf, eid, "   ")
    assert r.status_code == 422 and "请填写申辩内容" in r.text
    r = _defend(client, csrf, eid, "长" * (service.MAX_REASON + 1))
    assert r.status_code == 422 and "申辩内容不能超过" in r.text
    r = _defend(client, csrf, eid)
    assert r.status_code == 303 and r.headers["location"] == f"{PAGE}?defended={eid}"
    with db.session() as s:
        entry = s.get(ListEntry, eid)
        assert entry.defence == "本人不知情，款项已退还" and entry.defence_by == "zhangsan"
    done = client.get(r.headers["location"])
    assert done.status_code == 200 and "已收到您对条目" in done.text and "本人不知情，款项已退还" in done.text
    assert f'action="{PAGE}/{eid}/defence"' not in done.text  # one defence only
    r = _defend(client, csrf, eid, "再次申辩")
    assert r.status_code == 409 and "已提交过申辩" in r.text
    assert audit(db, "list_entry.defend", object_id=str(eid), outcome="ok")


def test_defence_after_the_deadline_is_refused(client, world, login, db) -> None:  # type: ignore[no-untyped-def]
    # Notified on 30 September 2026: five working days end on 13 October (National Day holiday).
    eid = _entry(db, world, world.citizen_subject, notified_on=date(2026, 9, 30))
    assert _deadline(db, eid) == date(2026, 10, 13)
    csrf = login(client, "zhangsan")
    page = client.get(PAGE)
    assert f'id="entry-{eid}"' in page.text and f'action="{PAGE}/{eid}/defence"' not in page.text
    r = _defend(client, csrf, eid)
    assert r.status_code == 409 and "申辩期已于 2026-10-13 届满" in r.text
    with db.session() as s:
        assert s.get(ListEntry, eid).defence is None


def test_other_peoples_and_untold_entries_are_not_found(client, world, login, db) -> None:  # type: ignore[no-untyped-def]
    others = _entry(db, world, world.other_subject, notified_on=clock.today())
    untold = _entry(db, world, world.citizen_subject)
    csrf = login(client, "zhangsan")
    for eid in (others, untold, 2**62):
        assert _defend(client, csrf, eid).status_code == 404
    with db.session() as s:
        assert s.scalar(select(ListEntry.defence).where(ListEntry.id == others)) is None
    refused = audit(db, "list_entry.defend", object_id=str(others))
    assert refused and refused[-1].outcome == "denied"


@pytest.mark.parametrize("user", ["admin", "officer_a", "auditor", "bank"])
def test_other_roles_are_refused_like_my_score(client, world, login, db, user) -> None:  # type: ignore[no-untyped-def]
    eid = _entry(db, world, world.citizen_subject, notified_on=clock.today())
    csrf = login(client, user)
    assert client.get(PAGE).status_code == client.get("/my/score").status_code == 403
    assert _defend(client, csrf, eid).status_code == 403


def test_anonymous_is_sent_to_login(client, world, db) -> None:  # type: ignore[no-untyped-def]
    r = client.get(PAGE, follow_redirects=False)
    assert r.status_code == client.get("/my/score", follow_redirects=False).status_code
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_the_api_and_the_page_share_the_service(client, world, login, db) -> None:  # type: ignore[no-untyped-def]
    """A defence stated through the API shows on the page, and the page then refuses a second one."""
    eid = _entry(db, world, world.citizen_subject, notified_on=clock.today())
    csrf = login(client, "zhangsan")
    r = client.post(f"/api/v1/list-entries/{eid}/defence", json={"defence": "经 API 提交"},
                    headers={"x-csrf-token": csrf})
    assert r.status_code == 200, r.text
    assert "经 API 提交" in client.get(PAGE).text
    assert _defend(client, csrf, eid).status_code == 409


def test_decided_and_removed_entries_stay_visible(client, world, login, db) -> None:  # type: ignore[no-untyped-def]
    rejected = _entry(db, world, world.citizen_subject, reason="证据不足的申请", notified_on=date(2026, 9, 30))
    removed = _entry(db, world, world.citizen_subject, code="serious_dishonesty", category="harm_health_life",
                     reason="销售假药", notified_on=date(2026, 9, 30))
    with db.session() as s:
        service.decide(s, entry=s.get(ListEntry, rejected), listed=False, reason="证据不足", actor=ADMIN)
        entry = s.get(ListEntry, removed)
        service.decide(s, entry=entry, listed=True, reason="申辩期届满", actor=ADMIN, today=date(2026, 10, 14))
        service.remove(s, entry=entry, kind="repair", reason="完成信用修复", actor=ADMIN)
    login(client, "zhangsan")
    r = client.get(PAGE)
    assert f'id="entry-{rejected}"' in r.text and "不予列入" in r.text and "证据不足" in r.text
    assert f'id="entry-{removed}"' in r.text and "已移出" in r.text and "信用修复" in r.text and "2026-10-14" in r.text
    assert f'action="{PAGE}/{rejected}/defence"' not in r.text and f'action="{PAGE}/{removed}/defence"' not in r.text
