"""Scoring pages: the admin ruleset page (refusals by line, preview, save), the grade distribution,
the citizen's own score with its explanation and what-if."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from xinyong.scoring import service
from xinyong.scoring.models import ScoringRuleset


def test_admin_ruleset_page_preview_refusal_and_save(client, login, db, world, scored) -> None:  # type: ignore[no-untyped-def]
    csrf = login(client, "admin")
    page = client.get("/admin/scoring")
    assert page.status_code == 200 and "v1" in page.text and "base: 1000" in page.text
    text = service.default_text()
    bad = text.replace("  honor:", "  honour:")
    line = next(i for i, t in enumerate(bad.splitlines(), 1) if t.startswith("  honour:"))
    r = client.post("/admin/scoring", data={"csrf_token": csrf, "yaml": bad, "effective_from": "", "action": "save"})
    assert r.status_code == 422 and f"第{line}行" in r.text and "items.honour" in r.text
    r = client.post("/admin/scoring", data={"csrf_token": csrf, "yaml": text.replace("base: 1000", "base: 960"),
                                            "effective_from": "", "action": "preview"})
    assert r.status_code == 200 and 'id="preview"' in r.text
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ScoringRuleset)) == 1
    r = client.post("/admin/scoring", data={"csrf_token": csrf, "yaml": text.replace("base: 1000", "base: 990"),
                                            "effective_from": "", "note": "页面", "action": "save"})
    assert r.status_code == 200 and "v2" in r.text
    with db.session() as s:
        assert service.active_version(s, today=service.versions(s)[0].effective_from) == 2


def test_distribution_page(client, login, world, scored) -> None:  # type: ignore[no-untyped-def]
    login(client, "auditor")
    r = client.get("/admin/scoring/distribution")
    assert r.status_code == 200 and 'id="grades"' in r.text and "data-chart" in r.text


def test_citizen_pages(client, login, world, scored) -> None:  # type: ignore[no-untyped-def]
    csrf = login(client, "zhangsan")
    assert client.get("/admin/scoring").status_code == 403
    r = client.get("/my/score")
    assert r.status_code == 200 and "990" in r.text and "行政处罚信息（一般）" in r.text
    # the history says why each score changed in the page's language, not as a code
    assert "信用记录报送" in r.text and "records.push" not in r.text
    client.cookies.set("lang", "en")
    english = client.get("/my/score").text
    assert "Record pushed" in english and "records.push" not in english
    client.cookies.set("lang", "zh")
    r = client.post("/my/score/what-if", data={"csrf_token": csrf, "remove_record": str(scored["penalty"]),
                                               "add_item": "honor", "level": "national"})
    assert r.status_code == 200 and 'id="what-if-result"' in r.text and "1040" in r.text
    r = client.post("/my/score/what-if", data={"csrf_token": csrf, "add_item": "honor", "level": "galactic"})
    assert r.status_code == 422


def test_citizen_page_names_the_list_that_forces_the_grade(client, login, db, vault, world, scored) -> None:  # type: ignore[no-untyped-def]
    """The citizen reads why their grade is D by the list's name in their language, not its code
    (the page said 因列入名单（dishonest_debtor）)."""
    import re

    from tests.scoring.scoring_support import debtor, push, setup
    from tests.support import SYSTEM

    from xinyong.lists.service import load_default as load_lists

    with db.session() as s:
        load_lists(s, actor=SYSTEM)
        push(s, vault, setup(s), [debtor()], id_number=world.citizen_id_number, name="张三丰")
    login(client, "zhangsan")
    forced = re.search(r'<p class="form-error">([^<]*)</p>', client.get("/my/score").text)
    assert forced is not None and forced.group(1) == "因列入名单（失信被执行人名单），等级为 D，与积分无关。", forced
    client.cookies.set("lang", "en")
    forced = re.search(r'<p class="form-error">([^<]*)</p>', client.get("/my/score").text)
    assert forced is not None and "dishonest_debtor" not in forced.group(1) and "grade is D" in forced.group(1), forced


def test_page_refusals_are_audited(client, login, db, world, scored) -> None:  # type: ignore[no-untyped-def]
    """The pages' refusals leave their ``failed`` entry, like the API's."""
    from xinyong.audit.models import AuditEntry

    def failed(action: str) -> int:
        with db.session() as s:
            return s.scalar(select(func.count()).select_from(AuditEntry)
                            .where(AuditEntry.action == action, AuditEntry.outcome == "failed")) or 0

    csrf = login(client, "admin")
    bad = service.default_text().replace("  honor:", "  honour:")
    for action, audited in (("save", "scoring.ruleset_create"), ("preview", "scoring.preview")):
        r = client.post("/admin/scoring", data={"csrf_token": csrf, "yaml": bad, "effective_from": "", "action": action})
        assert r.status_code == 422 and failed(audited) == 1
    client.cookies.clear()
    csrf = login(client, "zhangsan")
    r = client.post("/my/score/what-if", data={"csrf_token": csrf, "add_item": "honor", "level": "galactic"})
    assert r.status_code == 422 and failed("score.what_if") == 1


def test_page_refusals_before_the_rules_are_audited(client, login, db, world, scored) -> None:  # type: ignore[no-untyped-def]
    """A ruleset form whose effective date is no date, or whose YAML is too large, and a what-if form
    with no change at all are refused (422) before the rules see them: each leaves its ``failed``
    entry with code and field too (they left none)."""
    from xinyong.audit.models import AuditEntry

    def failed(action: str) -> list[dict]:  # type: ignore[type-arg]
        with db.session() as s:
            return [e.details for e in s.scalars(select(AuditEntry).where(
                AuditEntry.action == action, AuditEntry.outcome == "failed").order_by(AuditEntry.id))]

    csrf = login(client, "admin")
    text = service.default_text()
    for action, audited in (("save", "scoring.ruleset_create"), ("preview", "scoring.preview")):
        r = client.post("/admin/scoring", data={"csrf_token": csrf, "yaml": text, "effective_from": "next week",
                                                "action": action})
        assert r.status_code == 422
        r = client.post("/admin/scoring", data={"csrf_token": csrf, "yaml": "#" * 200_001, "effective_from": "",
                                                "action": action})
        assert r.status_code == 422
        assert [(d["code"], d["field"]) for d in failed(audited)] == [("wrong_type", "effective_from"),
                                                                      ("too_large", "yaml")]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ScoringRuleset)) == 1
    client.cookies.clear()
    csrf = login(client, "zhangsan")
    r = client.post("/my/score/what-if", data={"csrf_token": csrf})
    assert r.status_code == 422
    assert [(d["code"], d["field"]) for d in failed("score.what_if")] == [("missing", "changes")]


def test_the_rulesets_page_is_a_registered_read(client, login, db, world, scored) -> None:  # type: ignore[no-untyped-def]
    """The page shows a ruleset version (its YAML and the versions) as ``GET /api/v1/scoring/rulesets/{v}``
    does, and leaves the same ``scoring.ruleset_read`` entry, marked as the page's (it left none); a
    version it does not hold shows the newest, and the entry names the one shown."""
    from xinyong.audit.models import AuditEntry

    login(client, "admin")
    assert client.get("/admin/scoring").status_code == 200
    assert client.get("/admin/scoring?version=1").status_code == 200
    assert client.get("/admin/scoring?version=99").status_code == 200
    with db.session() as s:
        got = [(e.outcome, e.object_type, e.object_id, e.details, e.actor_id) for e in s.scalars(
            select(AuditEntry).where(AuditEntry.action == "scoring.ruleset_read").order_by(AuditEntry.id))]
    assert got == [("ok", "scoring_ruleset", "1", {"page": True}, str(world.users["admin"].id))] * 3


def test_citizen_page_says_why_a_record_counts_in_the_readers_language(client, login, world, scored) -> None:  # type: ignore[no-untyped-def]
    """Each contribution's reason is shown in the page's language only; the page showed the API's
    two-language text (``行政处罚信息（一般） / administrative penalty (general)``) to both readers.
    The API keeps both."""
    import re

    def reasons(html: str) -> list[str]:
        table = html.split('<h2>', 2)[2]  # the contributions' table, after the score
        return [re.sub(r"\s+", " ", c).strip() for c in re.findall(r"</td><td>([^<]*)</td>", table)]

    login(client, "zhangsan")
    zh = reasons(client.get("/my/score").text)
    assert "行政处罚信息（一般）" in zh and not [r for r in zh if re.search("[A-Za-z]{3}", r)]
    client.cookies.set("lang", "en")
    en = reasons(client.get("/my/score").text)
    assert "Administrative penalty (general)" in en and not [r for r in en if re.search("[\u4e00-\u9fff]", r)]
    api = client.get(f"/api/v1/subjects/{world.citizen_subject.id}/score").json()
    assert "行政处罚信息（一般） / administrative penalty (general)" in [c["reason"] for c in api["contributions"]]


@pytest.mark.parametrize(("lang", "heading"), [("zh", "未能计算"), ("en", "Not calculated")])
def test_a_what_if_refused_says_not_calculated_and_marks_its_field(client, login, world, scored, lang,  # type: ignore[no-untyped-def]
                                                                   heading) -> None:
    """The what-if saves nothing, yet its refusal was headed "not saved" (未能保存), with no field
    marked. It is headed "not calculated" and marks the field refused, its value kept as typed."""
    import re

    csrf = login(client, "zhangsan")
    client.cookies.set("lang", lang)
    r = client.post("/my/score/what-if", data={"csrf_token": csrf, "add_item": "honor", "level": "city",
                                               "decided_at": "2026/3/4"})
    assert r.status_code == 422
    assert re.search(rf'<p class="form-error" role="alert"><strong>{heading}:</strong>', r.text), r.text
    assert re.search(r'<input type="text" name="decided_at" value="2026/3/4"[^>]*aria-invalid="true"', r.text)
    r = client.post("/my/score/what-if", data={"csrf_token": csrf, "add_item": "honor", "level": "galactic"})
    assert r.status_code == 422 and '<select name="level" aria-invalid="true">' in r.text


def test_a_refused_preview_says_not_previewed_and_marks_the_date(client, login, world, scored) -> None:  # type: ignore[no-untyped-def]
    """A ruleset's preview refused was headed "not saved" (未能保存) like a save; it is headed "not
    previewed", and an effective date it could not read is marked, kept as typed. A save says not saved."""
    import html
    import re

    csrf = login(client, "admin")
    source = client.get("/admin/scoring").text
    text = html.unescape(re.search(r'<textarea name="yaml"[^>]*>(.*?)</textarea>', source, re.S).group(1))
    for action, heading in (("preview", "未能预览"), ("save", "未能保存")):
        r = client.post("/admin/scoring", data={"csrf_token": csrf, "yaml": text, "effective_from": "2026/3/4",
                                                "action": action})
        assert r.status_code == 422
        assert re.search(rf'id="ruleset-errors"><strong>{heading}:</strong>', r.text), action
        assert re.search(r'<input type="text" name="effective_from" value="2026/3/4"[^>]*aria-invalid="true"', r.text)


def test_an_id_number_typed_in_a_date_or_hours_box_is_never_shown_back(client, login, world, scored) -> None:  # type: ignore[no-untyped-def]
    """A refused what-if or ruleset form is shown again with what was typed (a date box became a text box
    that shows it on screen): a value of an ID number's shape is not shown back (web.filters.echo),
    neither on the citizen's page nor on the rules page, nor its birth date."""
    import html
    import re

    from tests.support import new_id_number

    number = new_id_number()
    csrf = login(client, "zhangsan")
    for box in ("decided_at", "hours"):
        r = client.post("/my/score/what-if", data={"csrf_token": csrf, "add_item": "honor", "level": "city",
                                                   box: number})
        assert r.status_code == 422, box
        assert number not in r.text and number[6:14] not in r.text, box
    csrf = login(client, "admin")
    source = client.get("/admin/scoring").text
    text = html.unescape(re.search(r'<textarea name="yaml"[^>]*>(.*?)</textarea>', source, re.S).group(1))
    for action in ("preview", "save"):
        r = client.post("/admin/scoring", data={"csrf_token": csrf, "yaml": text, "effective_from": number,
                                                "action": action})
        assert r.status_code == 422, action
        assert number not in r.text and number[6:14] not in r.text, action


def test_an_id_number_typed_in_the_note_of_a_refused_ruleset_form_is_never_shown_back(client, login, world,  # type: ignore[no-untyped-def]
                                                                                     scored) -> None:
    """A refused ruleset form (a date the page cannot read, a ruleset the rules refuse) shows its note
    back as the other boxes are (web.filters.echo): a note holding an ID number is not shown back, nor
    the number's birth date; a plain note is."""
    import html
    import re

    from tests.support import new_id_number

    number = new_id_number()
    csrf = login(client, "admin")
    source = client.get("/admin/scoring").text
    text = html.unescape(re.search(r'<textarea name="yaml"[^>]*>(.*?)</textarea>', source, re.S).group(1))
    bad = text.replace("  honor:", "  honour:")
    for action in ("preview", "save"):
        for yaml_text, effective in ((text, "next week"), (bad, "")):
            r = client.post("/admin/scoring", data={"csrf_token": csrf, "yaml": yaml_text, "effective_from": effective,
                                                    "note": f"调整 {number} 的说明", "action": action})
            assert r.status_code == 422, (action, effective)
            assert number not in r.text and number[6:14] not in r.text, (action, effective)
            r = client.post("/admin/scoring", data={"csrf_token": csrf, "yaml": yaml_text, "effective_from": effective,
                                                    "note": "调整扣分", "action": action})
            assert r.status_code == 422 and re.search(r'name="note" value="调整扣分"', r.text), (action, effective)


def test_an_id_number_in_a_ruleset_s_text_is_neither_shown_back_nor_stored(client, login, db, world, scored) -> None:  # type: ignore[no-untyped-def]
    """A ruleset's YAML is shown on the rulesets page and by the API to every scoring reader: an ID
    number written in it (a comment, an unknown key) is masked when a refused form shows the text
    back, in the refusal's messages, and in the version stored — as the note and the catalog's texts."""
    from tests.support import new_id_number

    from xinyong.privacy.masking import mask_id_number

    number = new_id_number()
    csrf = login(client, "admin")
    text = service.default_text()
    refused = f"# 依据 {number} 的意见调整\n{number}: 1\n" + text
    r = client.post("/admin/scoring", data={"csrf_token": csrf, "yaml": refused, "effective_from": "", "action": "save"})
    assert r.status_code == 422 and number not in r.text and mask_id_number(number) in r.text
    saved = f"# 依据 {number} 的意见调整\n" + text.replace("base: 1000", "base: 990")
    r = client.post("/admin/scoring", data={"csrf_token": csrf, "yaml": saved, "effective_from": "", "action": "save"})
    assert r.status_code == 200 and number not in r.text
    with db.session() as s:
        newest = s.scalars(select(ScoringRuleset).order_by(ScoringRuleset.version.desc())).first()
        assert newest.version == 2 and number not in newest.source and mask_id_number(number) in newest.source
    api = client.get("/api/v1/scoring/rulesets/2")
    assert api.status_code == 200 and number not in api.text
