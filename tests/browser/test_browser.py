"""End-to-end in a real browser: Debian's Chromium driven by Playwright against a live server.

The server runs in a thread on a fresh, migrated SQLite file with real commits (not the rolled-back
test transaction), exactly as ``xinyong serve`` would. Chromium comes from Debian
(``apt-get install -y chromium``; ``.ci/run`` installs it); Playwright never downloads a browser.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from tests.support import PASSWORD, SYSTEM, new_id_number

from xinyong.auth import service as auth_service
from xinyong.catalog.service import load_default
from xinyong.config import Settings
from xinyong.db import Database
from xinyong.privacy.keys import KeyRing
from xinyong.privacy.vault import Vault

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Chromium is a system package, not a Python dependency: a developer machine without it skips these
# tests with that reason; CI (`.ci/run` installs it and sets XINYONG_REQUIRE_BROWSER=1) fails instead.
if not Path(CHROMIUM).exists() and os.environ.get("XINYONG_REQUIRE_BROWSER") == "1":
    raise RuntimeError(f"XINYONG_REQUIRE_BROWSER=1 but {CHROMIUM} is missing (apt-get install -y chromium)")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Debian's chromium is not installed (apt-get install -y chromium)")


@dataclass
class LiveServer:
    url: str
    db: Database
    vault: Vault


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    import uvicorn

    from xinyong import migrate
    from xinyong.app import create_app

    tmp = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{tmp / 'live.db'}"
    migrate.upgrade(url)
    settings = Settings(database_url=url, key_file=tmp / "keys.json", checkpoint_dir=tmp / "checkpoints",
                        audit_seal_interval_seconds=0)
    db = Database(url)
    vault = Vault(KeyRing.generate())
    with db.session(write=True) as s:
        load_default(s, actor=SYSTEM)
        dept = auth_service.add_department(s, code="scjgj", name="区市场监管局", actor=SYSTEM)
        auth_service.add_user(s, username="admin", password=PASSWORD, role="admin", actor=SYSTEM)
        auth_service.add_user(s, username="officer_a", password=PASSWORD, role="officer",
                              department_id=dept.id, actor=SYSTEM)
    app = create_app(settings, database=db, vault=vault)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the live server did not start")
        time.sleep(0.05)
    yield LiveServer(url=f"http://127.0.0.1:{port}", db=db, vault=vault)
    server.should_exit = True
    thread.join(timeout=10)
    db.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.fixture
def page(browser, live: LiveServer):  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=live.url, locale="zh-CN")
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    problems: list[str] = []
    pg.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: problems.append(str(e)))
    pg.problems = problems  # type: ignore[attr-defined]
    yield pg
    context.close()


def _login(page, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(re.compile(r".*/(?!login).*$"))


def test_login_home_and_language_switch(page) -> None:  # type: ignore[no-untyped-def]
    _login(page, "admin")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("nav a[href='/admin/catalog']").count() == 1
    page.locator(".lang-switch a[lang=en]").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    page.goto("/admin/catalog")
    assert "admin_penalty" in page.content()
    assert page.problems == []  # no CSP violation, no script error


def test_wrong_password_stays_on_the_login_page_with_an_error(page) -> None:  # type: ignore[no-untyped-def]
    page.goto("/login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "not-the-password")
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_load_state()
    assert "/login" in page.url
    assert page.locator("input[name=password][aria-invalid=true]").count() == 1


def test_officer_uploads_a_csv_and_watches_the_job_finish(page, live: LiveServer,  # type: ignore[no-untyped-def]
                                                          tmp_path: Path) -> None:
    header = "身份证号码,姓名,来源编号,决定日期,严重程度,处罚决定书文号,违法行为类型,处罚类别,罚款金额（元）"
    ids = [new_id_number() for _ in range(30)]
    rows = [f"{n},王小明,B{i},2026-03-02,一般,和市监罚〔2026〕{i}号,未按规定公示,罚款,{100 + i}"
            for i, n in enumerate(ids)]
    rows.append("123,李四,BAD1,2026-03-02,一般,和市监罚〔2026〕999号,未按规定公示,罚款,100")
    csv_file = tmp_path / "penalties.csv"
    csv_file.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")

    _login(page, "officer_a")
    page.goto("/workspace/upload")
    page.select_option("select[name=item]", "admin_penalty")
    page.set_input_files("input[name=file]", str(csv_file))
    page.click("form[enctype='multipart/form-data'] button[type=submit]")
    # The job page polls with htmx until the job ends; the counts then appear without a reload.
    page.wait_for_selector("#job-state.status-done",
                           timeout=30_000)
    assert page.locator(".count-created").inner_text().strip() == "30"
    assert page.locator(".count-rejected").inner_text().strip() == "1"

    page.goto("/workspace/records")
    html = page.content()
    assert all(n not in html for n in ids)  # identities are masked on screen
    shown = set(re.findall(r"\d{6}\*{8}[\dX]{4}", html))
    assert shown and shown <= {n[:6] + "*" * 8 + n[-4:] for n in ids}
    assert page.problems == []


def test_the_audit_log_page_filters_in_place(page) -> None:  # type: ignore[no-untyped-def]
    _login(page, "admin")
    page.click("nav a[href='/audit']")
    page.wait_for_url(re.compile(r".*/audit$"))
    assert page.locator("#audit-entries tbody tr").count() > 1
    page.fill("input[name=action]", "auth.login")
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r".*/audit\?.*action=auth\.login"))  # HTMX swapped the results, pushed the URL
    # each action in words with its code beside it
    actions = page.locator("#audit-entries tbody td:nth-child(4) code").all_inner_texts()
    assert actions and set(actions) == {"auth.login"}
    assert set(page.locator("#audit-entries tbody td:nth-child(4)").all_inner_texts()) == {"登录\nauth.login"}
    page.select_option("select[name=outcome]", "failed")
    page.fill("input[name=occurred_from]", "2026-12-01")
    page.fill("input[name=occurred_to]", "2026-11-01")
    page.click("form.filters button[type=submit]")
    page.locator("#filter-refused").wait_for()
    assert page.locator("#audit-entries").count() == 0  # a filter not applied lists nothing
    assert page.problems == []  # no CSP violation, no script error


def test_api_docs_render_without_internet(page, live: LiveServer) -> None:  # type: ignore[no-untyped-def]
    """/api/docs on an intranet: every request that leaves the platform's origin is cut off (and
    counted), yet Swagger UI draws the operations, without a CSP violation or a script error."""
    outside: list[str] = []

    def route(r) -> None:  # type: ignore[no-untyped-def]
        if r.request.url.startswith(live.url + "/"):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto("/api/docs")
    page.wait_for_selector(".opblock", timeout=20_000)
    assert page.locator(".opblock").count() > 10
    assert outside == []
    assert page.problems == []


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_header_on_a_phone(page, lang: str) -> None:  # type: ignore[no-untyped-def]
    """On a 390×844 phone the platform's name has the header's first line and the menu wraps under
    it; side by side, the name was squeezed into a column two or three characters wide."""
    page.set_viewport_size({"width": 390, "height": 844})
    _login(page, "admin")
    page.goto(f"/lang?to={lang}&next=/")
    brand = page.locator("header a.brand").bounding_box()
    first_item = page.locator("header nav a[href='/']").nth(1).bounding_box()
    assert brand is not None and first_item is not None
    # the name's own line (one, or two on a narrow font), not a narrow column of six; counted in lines,
    # not pixels: its width depends on the fonts the machine has (CJK glyphs, or boxes without them)
    lines = page.locator("header a.brand strong").evaluate("s => s.getClientRects().length")
    assert 1 <= lines <= 2, (brand, lines)
    assert first_item["y"] >= brand["y"] + brand["height"], (brand, first_item)  # the menu under the name
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing sideways
    assert page.problems == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", ["/admin/catalog/admin_penalty", "/admin/measures/measure/accept_with_missing_documents"])
def test_console_pages_fit_a_phone(page, path: str) -> None:  # type: ignore[no-untyped-def]
    """Nothing on these pages is wider than a 390 px phone: the catalog item's display-period table
    sat in a fieldset, as wide as its content (456 px), and a long measure code in the heading did
    not wrap (448 px); the page scrolled sideways."""
    page.set_viewport_size({"width": 390, "height": 844})
    _login(page, "admin")
    page.goto(f"/lang?to=en&next={path}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_an_entry_page_fits_a_phone(page, live: LiveServer) -> None:  # type: ignore[no-untyped-def]
    """A list entry's label–value pairs stack on a phone: side by side, "Deciding department" and the
    masked ID number (which never wraps) were 8 px wider than the 390 px screen."""
    from datetime import date

    from xinyong.lists import service as lists
    from xinyong.subjects.service import register

    with live.db.session(write=True) as s:
        lists.load_default(s, actor=SYSTEM)
        subject, _ = register(s, vault=live.vault, id_number=new_id_number(), name="欧阳娜娜", actor=SYSTEM)
        entry = lists.add(s, code="red_recommended", subject_id=subject.id, reason="协会推荐", actor=SYSTEM,
                          today=date(2026, 11, 1))
        entry_id = entry.id
    page.set_viewport_size({"width": 390, "height": 844})
    _login(page, "admin")
    page.goto(f"/lang?to=en&next=/list-entries/{entry_id}")
    assert page.locator("dl.identity code.masked").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_a_wide_table_scrolls_in_its_box_on_a_phone(page) -> None:  # type: ignore[no-untyped-def]
    """On a 390 px phone a wide table keeps readable columns and scrolls sideways in its box; it was
    squeezed to the screen, a Chinese header one character a line (编/号, 姓/名) and the records page
    9,000 px tall."""
    page.set_viewport_size({"width": 390, "height": 844})
    _login(page, "admin")
    page.goto("/lang?to=zh&next=/admin/users")
    box = page.locator("div.overflow-auto:has(table)").first
    assert box.evaluate("b => b.scrollWidth > b.clientWidth")  # the table scrolls in its box …
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # … not the page
    heights = box.locator("th").evaluate_all("hs => hs.map(h => h.getBoundingClientRect().height)")
    line = box.locator("th").first.evaluate("h => parseFloat(getComputedStyle(h).lineHeight)")
    assert heights and max(heights) < 2 * line + 2 * 16, heights  # every header on one line


def test_dates_in_the_records_table_stay_on_one_line(page, live: LiveServer) -> None:  # type: ignore[no-untyped-def]
    """A 1280×800 window: the records table's dates are read whole; with ten columns the decision
    date and the display end broke after the month (2026-11- / 09)."""
    from sqlalchemy import select
    from tests.records_web.records_web_support import Person, penalty, push

    from xinyong.auth.models import Department

    with live.db.session(write=True) as s:
        dept = s.scalar(select(Department).where(Department.code == "scjgj"))
        people = [Person(new_id_number(), name) for name in ("欧阳娜娜", "司马相如", "诸葛孔明")]
        push(s, live.vault, dept, [penalty(p, f"DEMO-scjgj-00061{i}", "general", "2026-11-09") for i, p in enumerate(people)])
    page.set_viewport_size({"width": 1280, "height": 800})
    _login(page, "admin")
    page.goto("/lang?to=en&next=/workspace/records")
    lines = page.locator("main table td").evaluate_all("""cs => cs
        .filter(c => /^\\d{4}-\\d{2}-\\d{2}$/.test(c.textContent.trim()))
        .map(c => { const r = document.createRange(); r.selectNodeContents(c);
                    return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size; })""")
    assert len(lines) >= 6 and set(lines) == {1}, lines


def test_the_citizen_s_pages_fit_a_phone(page, live: LiveServer) -> None:  # type: ignore[no-untyped-def]
    """Citizens use phones: at 390 px the score page (with its history) does not scroll sideways.
    Its history table, outside a scroll box, came to 401 px once its dates stopped wrapping."""
    from sqlalchemy import select
    from tests.records_web.records_web_support import Person, penalty, push

    from xinyong.auth.models import Department
    from xinyong.subjects.models import Subject

    person = Person(new_id_number(), "欧阳明月")
    with live.db.session(write=True) as s:
        dept = s.scalar(select(Department).where(Department.code == "scjgj"))
        push(s, live.vault, dept, [penalty(person, "PHONE-1", "general", "2026-06-01")])
        subject_id = s.scalar(select(Subject.id).where(Subject.id_bidx == live.vault.lookup_key(person.id_number)))
        auth_service.add_user(s, username="phone_citizen", password=PASSWORD, role="citizen", subject_id=subject_id,
                              actor=SYSTEM)
    page.set_viewport_size({"width": 390, "height": 844})
    _login(page, "phone_citizen")
    for lang in ("zh", "en"):
        page.goto(f"/lang?to={lang}&next=/my/score")
        assert page.locator("main h2").count() >= 3  # the score, its records and the history
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, lang


def test_the_citizen_s_score_history_scrolls_in_its_box(page, live: LiveServer) -> None:  # type: ignore[no-untyped-def]
    """The score page's tables on a 390 px phone, with the reader's larger text (a phone setting):
    each scrolls sideways in its own box, as the other tables do, and the page does not. The score
    history sat outside a scroll box and only just fitted at the default text size; larger, it pushed
    the whole page sideways."""
    from sqlalchemy import select
    from tests.records_web.records_web_support import Person, penalty, push

    from xinyong.auth.models import Department
    from xinyong.subjects.models import Subject

    person = Person(new_id_number(), "司马长风")
    with live.db.session(write=True) as s:
        dept = s.scalar(select(Department).where(Department.code == "scjgj"))
        for i in range(1, 4):  # three pushes: three changes of the score
            push(s, live.vault, dept, [penalty(person, f"HIST-{i}", "general", f"2026-0{i}-01")])
        subject_id = s.scalar(select(Subject.id).where(Subject.id_bidx == live.vault.lookup_key(person.id_number)))
        auth_service.add_user(s, username="history_citizen", password=PASSWORD, role="citizen",
                              subject_id=subject_id, actor=SYSTEM)
    page.set_viewport_size({"width": 390, "height": 844})
    _login(page, "history_citizen")
    for lang in ("zh", "en"):
        page.goto(f"/lang?to={lang}&next=/my/score")
        page.evaluate("document.documentElement.style.fontSize = '24px'")  # the reader's larger text
        assert page.locator("main table").last.locator("tbody tr").count() >= 3  # the history, last
        outside = page.locator("main table").evaluate_all("ts => ts.filter(t => !t.closest('.overflow-auto')).length")
        assert outside == 0, lang  # every table in its scroll box …
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, lang  # … not the page
    assert page.problems == []  # type: ignore[attr-defined]


def test_the_proposal_form_offers_the_chosen_list_s_categories_only(page, live: LiveServer) -> None:  # type: ignore[no-untyped-def]
    """Proposing a dishonesty listing: the category select offers the categories of the list chosen,
    and follows a change of list; it offered every list's (a key-supervision category for the serious
    dishonesty list, refused unknown_category after the ID number and the reason were typed)."""
    from xinyong.lists import service as lists

    with live.db.session(write=True) as s:
        lists.load_default(s, actor=SYSTEM)
        categories = {k.code: set(lists.categories_of(k)) for k in lists.all_kinds(s)
                      if k.kind == "dishonesty" and k.source == "decision"}
    assert len(categories) >= 2 and all(categories.values())
    _login(page, "admin")
    for lang in ("zh", "en"):
        page.goto(f"/lang?to={lang}&next=/lists")
        for code in [*sorted(categories), *sorted(categories, reverse=True)]:
            page.select_option("select[name=list_code]", code)
            offered = page.locator("select[name=category] option").evaluate_all(
                "os => os.map(o => o.value).filter(v => v)")
            assert set(offered) == categories[code], (lang, code, offered)
        page.select_option("select[name=category]", sorted(categories[code])[0])
        other = next(c for c in categories if c != code)
        page.select_option("select[name=list_code]", other)  # another list: its categories, none chosen
        assert page.locator("select[name=category]").input_value() == ""
    assert page.problems == []  # type: ignore[attr-defined]
