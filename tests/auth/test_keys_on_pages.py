"""An API key calls the API only: the pages are a signed-in user's (a web session with its CSRF
token, idle timeout and step-up). A key on a page was let in by the page's permission alone — the
check form outside the check API's rate limit per key, the workspace's pages rendered for a
program. Refused 403 ``api_key_not_for_pages``, registered ``auth.forbidden`` with the path."""

from __future__ import annotations

import pytest
from tests.web.web_support import audit

PAGES = [
    ("GET", "/workspace/records", None),
    ("GET", "/workspace/checks", None),
    ("POST", "/workspace/checks", {"id_number": "x", "scenario": "x"}),
    ("GET", "/workspace/upload", None),
    ("GET", "/lists", None),
    ("GET", "/", None),
]


@pytest.mark.parametrize(("method", "path", "form"), PAGES)
def test_an_api_key_is_refused_on_the_pages(client, world, db, method, path, form):
    r = client.request(method, path, data=form, headers={**world.bearer(world.key_a), "Accept": "application/json"},
                       follow_redirects=False)
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "api_key_not_for_pages"
    refused = audit(db, "auth.forbidden", actor_type="apikey")
    assert len(refused) == 1
    assert refused[0].details == {"path": path, "reason": "api_key_on_page"}
    assert refused[0].department_id == world.dept_a.id


def test_the_same_key_calls_the_api_and_a_browser_the_pages(client, world, login):
    assert client.get("/api/v1/records", headers=world.bearer(world.key_a)).status_code == 200
    login(client, "officer_a")
    assert client.get("/workspace/records").status_code == 200


def test_a_wrong_key_on_a_page_is_refused_as_on_the_api(client, world):
    r = client.get("/workspace/records", headers={"Authorization": "Bearer xy_nosuchkey000_abc",
                                                  "Accept": "application/json"})
    assert r.status_code == 401 and r.json()["code"] == "key_invalid"
