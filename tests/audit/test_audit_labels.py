"""The audit log's codes in words, on its page (``GET /audit``) only.

Every action, object type and outcome the source can write (found statically: ``written_codes``, whose
docstring says how, and which dynamic families and data-borne codes it knows) has a Chinese and an
English label in the message catalog (``audit.action.<code>``, ``audit.object_type.<code>``,
``audit.outcome.<code>``): a new action without one fails here. The page shows the words with the code
beside them; a code without words (an older version's) is shown as the code. The filters stay free
text, with the known codes offered in a ``<datalist>``. The API keeps the codes.
"""

from __future__ import annotations

import html
import re
import textwrap

import pytest
from tests.audit.test_audit_page import add, ids
from tests.audit.written_codes import FAMILIES, collect

from xinyong.audit.service import OUTCOMES, Actor
from xinyong.web.i18n import AUDIT_ACTIONS, AUDIT_OBJECT_TYPES, MESSAGES

FOUND = collect()
KINDS = ("action", "object_type", "outcome")


def row_of(page: str, entry_id: int) -> str:
    return page.split(f"<tr>\n        <td>{entry_id}<br>", 1)[1].split("</tr>", 1)[0]


# ---- every code the source writes has its words ---------------------------------------------------

def test_the_source_is_read_whole():
    assert FOUND.unresolved == [], "a code the collector cannot follow: declare it in tests/audit/written_codes.py"
    actions = FOUND.of("action")
    # the families, the data-borne codes and the forwarded ones are all found, not only the literals
    assert {"records.push", "list_entry.propose", "ratelimit.refused", "checks.malformed", "checks.batch_malformed",
            "users.list", "imports.upload_form", "record.expire", "record.archive", "measures.measure_save",
            "measures.scenario_save", "imports.interrupt", "checks.batch_fail", "user.disable",
            "lists.dishonesty_ends_red", "maintain.future_day", "demo.build", "keys.rotate"} <= actions
    assert len(actions) >= 100
    assert set(OUTCOMES) <= FOUND.of("outcome")


def test_each_dynamic_family_is_declared_with_the_values_it_takes():
    assert set(FOUND.families) == set(FAMILIES), "an f-string builds an action: declare it in FAMILIES"
    for template, values in FAMILIES.items():
        assert FOUND.family_values[template] == set(values), template


@pytest.mark.parametrize("kind", KINDS)
def test_every_written_code_has_chinese_and_english_words(kind):
    missing = []
    for code in sorted(FOUND.of(kind)):
        entry = MESSAGES.get(f"audit.{kind}.{code}")
        if entry is None or not entry.get("zh") or not entry.get("en") or code in (entry["zh"], entry["en"]):
            missing.append(code)
    assert missing == [], f"audit {kind}s without both labels (web/i18n.py, AUDIT_ACTIONS …): {missing}"


@pytest.mark.parametrize(("kind", "known"), [("action", AUDIT_ACTIONS), ("object_type", AUDIT_OBJECT_TYPES)])
def test_the_offered_codes_are_the_written_ones(kind, known):
    """The filters' suggestions are the codes the platform writes: none missing, none it never writes."""
    assert set(known) == FOUND.of(kind)


def test_the_collector_fails_on_a_new_action(tmp_path):
    """The collector itself: a literal, one forwarded through a helper (and its default), a dict's
    values, an f-string, and what it cannot follow — each seen."""
    (tmp_path / "mod.py").write_text(textwrap.dedent('''
        from xinyong.audit.service import record, record_refusal

        def _helper(session, actor, action="x.default", kind="thing"):
            record(session, actor=actor, action=action, object_type=kind, outcome="ok")

        def use(session, actor, status, which):
            record(session, actor=actor, action="x.literal")
            _helper(session, actor, "x.forwarded")
            _helper(session, actor)
            record_refusal(session, actor=actor, action={"a": "x.one"}.get(status, "x.two"), details={})
            record(session, actor=actor, action=f"x.{status}_made")
            record(session, actor=actor, action=which.name)
    '''), encoding="utf-8")
    found = collect(tmp_path)
    assert set(found.codes["action"]) == {"x.literal", "x.forwarded", "x.default", "x.one", "x.two"}
    assert set(found.codes["object_type"]) == {"thing"}
    assert set(found.codes["outcome"]) == {"ok", "denied"}  # record_refusal's default
    assert set(found.families) == {"x.{kind}_made"}
    assert [u.split(": ", 1)[1] for u in found.unresolved] == ["which.name"]


# ---- the page -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("lang", "words", "object_words", "outcome_words"),
                         [("zh", "部门报送信用记录", "部门", "拒绝"), ("en", "Records pushed by a department", "Department", "Denied")])
def test_the_page_shows_words_and_the_code_beside_them(client, world, login, db, lang, words, object_words,
                                                        outcome_words):
    made = add(db, action="records.push", object_type="department", object_id="3", outcome="denied")
    login(client, "auditor")
    client.cookies.set("lang", lang)
    r = client.get("/audit")
    assert r.status_code == 200
    row = row_of(r.text, made[0])
    assert f"{html.escape(words)}<br><small><code>records.push</code></small>" in row
    assert f"{object_words} <small><code>department</code></small> 3" in row
    assert f'<span class="badge outcome-denied">{outcome_words}</span>' in row


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_code_without_words_is_shown_as_the_code(client, world, login, db, lang):
    """An action or object type an older version wrote: the code itself; the outcome error in words."""
    made = add(db, action="legacy.thing_done", object_type="old_kind", object_id="9", outcome="error")
    login(client, "auditor")
    client.cookies.set("lang", lang)
    row = row_of(client.get("/audit").text, made[0])
    assert '<td class="audit-action"><code>legacy.thing_done</code></td>' in row
    assert "<td><code>old_kind</code> 9</td>" in row
    assert "audit.action." not in row and "audit.object_type." not in row and "audit.outcome." not in row
    assert ('<span class="badge outcome-error">' + ("出错" if lang == "zh" else "Error") + "</span>") in row


def test_htmx_results_carry_the_words_too(client, world, login, db):
    made = add(db, action="list_entry.propose", object_type="list_entry", object_id="5")
    login(client, "auditor")
    r = client.get("/audit", params={"action": "list_entry.propose"}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "<form" not in r.text
    assert ids(r.text) == made
    assert "提出拟列入名单<br><small><code>list_entry.propose</code></small>" in row_of(r.text, made[0])


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_filters_offer_the_known_codes_with_their_words(client, world, login, lang):
    login(client, "auditor")
    client.cookies.set("lang", lang)
    page = client.get("/audit").text
    action_input = re.search(r'<input type="text" name="action"[^>]*>', page).group(0)
    assert 'list="audit-action-codes"' in action_input
    assert 'list="audit-object_type-codes"' in re.search(r'<input type="text" name="object_type"[^>]*>', page).group(0)
    assert "list=" not in re.search(r'<input type="text" name="actor"[^>]*>', page).group(0)
    listed = page.split('<datalist id="audit-action-codes">', 1)[1].split("</datalist>", 1)[0]
    options = re.findall(r'<option value="([^"]+)" label="([^"]*)">([^<]*)</option>', listed)
    assert [code for code, _, _ in options] == sorted(AUDIT_ACTIONS)
    words = dict((code, html.unescape(label)) for code, label, _ in options)
    assert words["ratelimit.refused"] == AUDIT_ACTIONS["ratelimit.refused"][0 if lang == "zh" else 1]
    types = page.split('<datalist id="audit-object_type-codes">', 1)[1].split("</datalist>", 1)[0]
    assert re.findall(r'<option value="([^"]+)"', types) == sorted(AUDIT_OBJECT_TYPES)


def test_the_action_filter_is_free_text_as_before(client, world, login, db):
    """Any code may be typed — an unknown one too — and is matched exactly; words are no filter (the
    same refusal as before: not a code's shape)."""
    known = add(db, action="records.push")
    legacy = add(db, action="legacy.thing_done")
    login(client, "auditor")
    assert ids(client.get("/audit", params={"action": "records.push"}).text) == known
    assert ids(client.get("/audit", params={"action": "legacy.thing_done"}).text) == legacy
    assert ids(client.get("/audit", params={"action": "records"}).text) == []  # exact, not a prefix
    refused = client.get("/audit", params={"action": "部门报送信用记录"})
    assert refused.status_code == 200 and 'id="filter-refused"' in refused.text and ids(refused.text) == []


# ---- the API and the entries keep the codes -------------------------------------------------------

def test_the_api_returns_codes_not_words(client, world, login, db):
    made = add(db, action="records.push", object_type="department", object_id="3", outcome="denied",
               actor=Actor(type="user", id="990", label="clerk_x"))
    login(client, "auditor")
    client.cookies.set("lang", "zh")
    r = client.get("/api/v1/audit/entries", params={"action": "records.push"})
    assert r.status_code == 200
    (entry,) = [e for e in r.json() if e["id"] == made[0]]
    assert (entry["action"], entry["object_type"], entry["outcome"]) == ("records.push", "department", "denied")
    assert "部门报送信用记录" not in r.text and "label" not in {k for k in entry if k != "actor_label"}
    assert not any(k.endswith("_label") and k != "actor_label" for k in entry)
