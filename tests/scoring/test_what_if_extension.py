"""A what-if's supposed record reads its item's display extension field (catalog ``display.extension``:
a dishonest debtor's ``extension_years``) as a pushed record's display does: checked by the field's own
checker (an integer within its bounds), any other field refused, and the resulting end of display shown
(the API's ``contributions[].display_until``, the citizen page's result table). Generic: driven by
``ItemSpec.display_extension``, not by an item code — an extension rule the admin gives another item
gets its box on the page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select
from tests.support import SYSTEM, new_id_number

from xinyong import clock
from xinyong.audit.models import AuditEntry
from xinyong.catalog.service import get_current, update_item
from xinyong.catalog.spec import to_data
from xinyong.records.display import add_months

URL = "/api/v1/subjects/{}/score/what-if"


def _debtor(decided: str, **fields: Any) -> dict[str, Any]:
    add: dict[str, Any] = {"item": "dishonest_debtor", "decided_at": decided}
    if fields:
        add["fields"] = fields
    return {"add": add}


def _what_if(client, world, changes: list[dict[str, Any]]):  # type: ignore[no-untyped-def]
    return client.post(URL.format(world.citizen_subject.id), json={"changes": changes},
                       headers=world.bearer(world.key_a))


def _failed(db) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return [e.details for e in s.scalars(select(AuditEntry).where(AuditEntry.action == "score.what_if",
                                                                      AuditEntry.outcome == "failed")
                                             .order_by(AuditEntry.id))]


@pytest.mark.parametrize("years", [1, "1", 1.0])
def test_a_supposed_debtor_counts_as_long_as_its_extended_display(client, world, scored, years) -> None:  # type: ignore[no-untyped-def]
    """Decided 30 months ago: two years of display are over (it would not count), one more year by
    the court's extension keeps it shown, and its points count."""
    decided = add_months(clock.today(), -30)
    plain = _what_if(client, world, [_debtor(decided.isoformat())])
    assert plain.status_code == 200, plain.text
    body = plain.json()
    assert (body["score"], body["grade"]) == (body["current_score"], body["current_grade"])
    assert all(c["record_id"] is not None for c in body["contributions"])
    extended = _what_if(client, world, [_debtor(decided.isoformat(), extension_years=years)])
    assert extended.status_code == 200, extended.text
    body = extended.json()
    [supposed] = [c for c in body["contributions"] if c["record_id"] is None]
    assert supposed["item"] == "dishonest_debtor" and supposed["points"] < 0
    assert supposed["display_until"] == add_months(decided, 36).isoformat()
    assert supposed["counts_until"] <= supposed["display_until"]
    assert body["score"] == body["current_score"] + supposed["points"]
    # the records' own contributions show their display end too
    assert all(c["display_until"] for c in body["contributions"])


@pytest.mark.parametrize(("fields", "field", "code", "says"), [
    ({"extension_years": 4}, "changes[0].add.fields.extension_years", "out_of_range", "不能大于3"),
    ({"extension_years": -1}, "changes[0].add.fields.extension_years", "out_of_range", "不能小于0"),
    ({"extension_years": "two"}, "changes[0].add.fields.extension_years", "wrong_type", "应为整数"),
    ({"extension_years": 1.5}, "changes[0].add.fields.extension_years", "wrong_type", "应为整数"),
    ({"case_no": "(2025)津0101执1号"}, "changes[0].add.fields.case_no", "not_allowed", "extension_years"),
    ({"no_such": 1}, "changes[0].add.fields.no_such", "unknown_field", "no_such"),
], ids=["over", "under", "text", "fraction", "other_field", "unknown"])
def test_an_extension_the_records_api_would_refuse_is_refused(client, db, world, scored, fields, field, code,  # type: ignore[no-untyped-def]
                                                                says) -> None:
    r = _what_if(client, world, [{"add": {"item": "dishonest_debtor", "fields": fields}}])
    assert r.status_code == 422, r.text
    [err] = r.json()["errors"]
    assert (err["field"], err["code"]) == (field, code)
    zh, _, en = err["message"].partition(" / ")
    assert says in zh and en
    if code in ("out_of_range", "wrong_type"):  # the catalog field's own message, as a pushed record's
        assert zh.startswith("“延长失信期限（年）”") and en.startswith("extension_years: ")
    assert _failed(db)[-1] == {"code": code, "field": field}


def test_fields_on_an_item_without_an_extension_rule_are_refused(client, world, scored) -> None:  # type: ignore[no-untyped-def]
    r = _what_if(client, world, [{"add": {"item": "honor", "level": "city", "fields": {"level": "city"}}}])
    assert r.status_code == 422
    [err] = r.json()["errors"]
    assert (err["field"], err["code"]) == ("changes[0].add.fields.level", "not_allowed")
    r = _what_if(client, world, [{"add": {"item": "honor", "level": "city", "fields": [1]}}])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "changes[0].add.fields"


def _honour_extended(db) -> None:  # type: ignore[no-untyped-def]
    """An extension rule on another item (honours shown one more year per ``extra_years``)."""
    with db.session() as s:
        spec = to_data(get_current(s, "honor").spec)
        spec["fields"].append({"name": "extra_years", "name_zh": "延长公示（年）", "type": "integer", "min": 0, "max": 2})
        spec["display"]["extension"] = {"field": "extra_years", "months": 12}
        update_item(s, code="honor", data=spec, actor=SYSTEM, note="extension")
        s.commit()


def test_the_citizen_page_has_a_box_for_an_offered_items_extension_and_shows_the_display_end(  # type: ignore[no-untyped-def]
        client, login, db, world, scored) -> None:
    csrf = login(client, "zhangsan")
    assert 'name="fields.' not in client.get("/my/score").text  # no offered item has an extension rule
    _honour_extended(db)
    page = client.get("/my/score")
    assert 'name="fields.extra_years"' in page.text and "延长公示（年）" in page.text
    decided = add_months(clock.today(), -12)  # shown five years, one more with the extension
    data = {"csrf_token": csrf, "add_item": "honor", "level": "city", "decided_at": decided.isoformat()}

    def shown_until(page: str) -> list[str]:
        result = page.split('id="what-if-result"')[1].split("</article>")[0]
        return re.findall(r'<td class="date display-until">([0-9-]+)</td>', result)

    plain = client.post("/my/score/what-if", data=data)
    assert plain.status_code == 200 and add_months(decided, 60).isoformat() in shown_until(plain.text)
    r = client.post("/my/score/what-if", data={**data, "fields.extra_years": "1"})
    assert r.status_code == 200
    assert add_months(decided, 72).isoformat() in shown_until(r.text)
    assert add_months(decided, 60).isoformat() not in shown_until(r.text)
    refused = client.post("/my/score/what-if", data={**data, "fields.extra_years": "3"})
    assert refused.status_code == 422 and "延长公示（年）" in refused.text
    assert 'name="fields.extra_years" step="1" min="0" max="2" value="3" aria-invalid="true"' in refused.text


def test_a_what_if_refusal_shows_no_id_number_typed_in_it(client, login, world, scored) -> None:  # type: ignore[no-untyped-def]
    """The page shows a refused what-if's message: an item code or a record number of an ID number's
    shape (a forged form) is masked in it, as the API's error body masks it."""
    number = new_id_number()
    digits = new_id_number()
    while not digits.isdigit():
        digits = new_id_number()
    csrf = login(client, "zhangsan")
    for form in ({"add_item": number}, {"remove_record": digits}):
        r = client.post("/my/score/what-if", data={"csrf_token": csrf, **form})
        assert r.status_code == 422, form
        shown = next(iter(form.values()))
        assert shown not in r.text and shown[6:14] not in r.text, form
        assert shown[:6] + "********" + shown[-4:] in r.text, form
