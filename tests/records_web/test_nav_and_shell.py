"""Navigation by role for the new pages, and the shell's rules on every one of them: no inline
script or style (CSP), no-store, the CSRF token in the page, English available."""

from __future__ import annotations

import re
from datetime import date

import pytest
from tests.web.web_support import ROLE_USERS

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
INLINE_STYLE = re.compile(r"<style\b|\sstyle=|\son[a-z]+=", re.I)
NAV = re.compile(r'<nav aria-label="主导航">(.*?)</nav>', re.S)


def nav_links(html: str) -> list[tuple[str, str]]:
    block = NAV.search(html)
    assert block
    return re.findall(r'<li><a href="([^"]+)"[^>]*>([^<]+)</a></li>', block.group(1))


EXPECTED = {
    "officer": [("/", "首页"), ("/workspace/records", "我的记录"), ("/workspace/upload", "上传文件"),
                ("/workspace/imports", "导入记录"), ("/workspace/checks", "联合奖惩核查"),
                ("/workspace/quality", "本部门数据质量"), ("/workspace/apikeys", "API 密钥"), ("/lists", "信用名单"), ("/admin/scoring/distribution", "等级分布")],
    "admin": [("/", "首页"), ("/admin/departments", "部门管理"), ("/admin/users", "用户管理"),
              ("/admin/apikeys", "API 密钥"), ("/audit", "审计日志"), ("/workspace/records", "信用记录"),
              ("/workspace/imports", "导入记录"), ("/admin/catalog", "信息目录"), ("/admin/quality", "数据质量"),
              ("/lists", "信用名单"), ("/admin/scoring", "积分规则"), ("/admin/scoring/distribution", "等级分布"),
              ("/admin/measures", "奖惩措施"), ("/admin/checks/feedback", "反馈统计"), ("/admin/calendar", "节假日安排")],
    "auditor": [("/", "首页"), ("/audit", "审计日志"), ("/workspace/records", "信用记录"),
                ("/admin/quality", "数据质量"), ("/lists", "信用名单"), ("/admin/scoring/distribution", "等级分布"),
                ("/admin/checks/feedback", "反馈统计")],
    "institution": [("/", "首页")],
    "citizen": [("/", "首页"), ("/my/score", "我的诚信积分"), ("/my/lists", "我的信用名单")],
}


@pytest.mark.parametrize("role", list(EXPECTED))
def test_navigation_by_role(client, world, catalog_loaded, login, role):
    login(client, ROLE_USERS[role])
    links = [(href, text) for href, text in nav_links(client.get("/").text) if not href.startswith("/lang")]
    expected = EXPECTED[role]
    assert links == expected


def test_the_officer_home_links_to_the_workspace(client, world, catalog_loaded, login):
    login(client, "officer_a")
    home = client.get("/").text
    cards = re.findall(r'<article class="card-link">\s*<h2><a href="([^"]+)">', home)
    assert cards == ["/workspace/records", "/workspace/upload", "/workspace/imports", "/workspace/checks",
                     "/workspace/quality", "/workspace/apikeys", "/lists", "/admin/scoring/distribution"]


PAGES = {
    "officer_a": ["/workspace/records", "/workspace/records/{A-P1}", "/workspace/upload", "/workspace/imports",
                  "/workspace/quality"],
    "admin": ["/workspace/records", "/workspace/records/{B-P1}", "/admin/catalog", "/admin/catalog/admin_penalty",
              "/admin/catalog/honor", "/admin/quality", "/workspace/imports", "/workspace/upload"],
}


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("user", list(PAGES))
def test_every_new_page_obeys_the_shell(client, world, sample, login, user, lang):
    csrf = login(client, user)
    client.cookies.set("lang", lang)
    for path in PAGES[user]:
        path = re.sub(r"\{([A-Z0-9-]+)\}", lambda m: str(sample.ids[m.group(1)]), path)
        r = client.get(path)
        assert r.status_code == 200, path
        assert r.headers["cache-control"] == "no-store"
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert not INLINE_SCRIPT.search(r.text), path
        assert not INLINE_STYLE.search(r.text), path
        assert f'<meta name="csrf-token" content="{csrf}">' in r.text
        assert f'<html lang="{"zh-CN" if lang == "zh" else "en"}">' in r.text
        # every message key resolved (a missing key would show itself, e.g. "records.title")
        visible = re.sub(r"<[^>]+>", " ", r.text.split("<main", 1)[1])
        leftovers = re.findall(r"\b(?:records|catalog|quality|upload|jobs?|status|severity|category|visibility|"
                               r"reason|change|nav|common)\.[a-z_.]+\b", visible)
        assert leftovers == [], (path, leftovers)


def test_a_page_never_puts_an_id_number_from_its_address_into_its_links(client, world, sample, login):
    """A client that put an ID number in a path (a record or job id field filled with one) gets a
    404 page; its language links must not carry the number on in their query string (which the app
    refuses anyway: ``id_number_in_url``)."""
    from xinyong.privacy.identity import make_id_number

    login(client, "officer_a")
    numbers = [make_id_number("120101", date(1990, 9, 9), seq) for seq in range(40)]
    # all digits: a record or job id out of range (404); ending in X: not an id at all (422)
    for idn in (next(n for n in numbers if n[-1] != "X"), next(n for n in numbers if n[-1] == "X")):
        for path in (f"/workspace/records/{idn}", f"/workspace/imports/{idn}", f"/nowhere/{idn}"):
            r = client.get(path)
            assert r.status_code == (422 if idn[-1] == "X" and "/workspace/" in path else 404), (path, r.status_code)
            links = re.findall(r'(?:href|action|hx-get|hx-post|src)="([^"]+)"', r.text)
            assert links and not [u for u in links if idn in u], path
            assert '/lang?to=en&amp;next=%2F"' in r.text


HEADING = re.compile(r"<h([1-6])\b")


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("role", list(EXPECTED))
def test_headings_never_skip_a_level(client, world, sample, login, role, lang):
    """Every page a role's navigation offers opens with one h1 and never skips a heading level (a
    screen reader's outline): the home pages' cards were h3 right under the h1."""
    login(client, ROLE_USERS[role])
    client.cookies.set("lang", lang)
    for href, _ in EXPECTED[role]:
        r = client.get(href)
        assert r.status_code == 200, href
        levels = [int(h) for h in HEADING.findall(r.text.split("<main", 1)[1])]
        assert levels[:1] == [1] and levels.count(1) == 1, (href, levels)
        skips = [(a, b) for a, b in zip(levels, levels[1:], strict=False) if b > a + 1]
        assert skips == [], (href, levels)
