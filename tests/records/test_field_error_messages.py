"""Every error of a record's field names the field in its message — the Chinese name in the Chinese half,
the code in the English half (``“罚款金额”应为数字 / amount: must be a number``) — so that a message read on
its own (a log line, a report's cell, a developer's console) says which field is wrong. ``field`` and
``code`` are unchanged: they are the contract, the message is for people. And accepted records build no
message at all: the names are put into the errors only when a value is refused (or once per item version)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.records.records_support import ENVELOPE_NAMES, assert_names_its_field, penalty
from tests.support import new_id_number

from xinyong.catalog import spec as spec_module
from xinyong.catalog.service import Item, read_yaml
from xinyong.records import service as records_service
from xinyong.records.service import DepartmentRef, check_record, check_records

SPECS = {s.code: s for s in read_yaml()}
ITEMS = {code: Item(id=i + 1, version=1, spec=spec) for i, (code, spec) in enumerate(SPECS.items())}
DEPT = DepartmentRef(id=1, code="scjgj")
TODAY = date(2026, 6, 1)
VALID_IDS = [new_id_number(born=date(1970 + i, 1 + i, 1 + i)) for i in range(3)]


# values as clients and spreadsheets send them: right, wrong, and of every JSON type
ODD_TEXTS = ["", " ", "2026-02-30", "2025-13-01", "2026-03-02", "2026/3/2", "20260302", "3.5", "3.0", "2,000",
             "1_000", "1e400", "-1", "１２", "是", "否", "maybe", "区级", "district", "national", "罚款", "a\nb",
             "a\x00b", "\ud800", "x" * 300, "王?", "110101199003077777", "general", "serious", "minor"]
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**60), max_value=2**60), st.floats(),
    st.sampled_from(ODD_TEXTS), st.text(max_size=40), st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
# an unknown key holding " / " would make the message's halves ambiguous to this test (not to a reader)
KEYS = st.text(alphabet=st.characters(blacklist_characters="/", blacklist_categories=("Cs",)), min_size=1, max_size=12)


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    code = draw(st.sampled_from([*SPECS, "no_such_item"]))
    spec = SPECS.get(code)
    rec: dict[str, Any] = {}
    envelope: dict[str, st.SearchStrategy[Any]] = {
        "item": st.one_of(st.just(code), VALUES),
        "id_number": st.one_of(st.sampled_from(VALID_IDS), st.sampled_from(["12345", "11010119900307777X", ""]),
                               VALUES),
        "name": st.one_of(st.just("李四"), VALUES),
        "source_id": st.one_of(st.just("S-1"), VALUES, st.just("S-110101199003077777")),
        "decided_at": st.one_of(st.just("2026-03-02"), st.just("2030-01-01"), st.just("1900-01-01"), VALUES),
        "severity": st.one_of(st.sampled_from(["minor", "general", "serious"]), VALUES),
    }
    for key, strategy in envelope.items():
        if draw(st.integers(0, 9)):  # mostly there
            rec[key] = draw(strategy)
    names = [f.name for f in spec.fields] if spec is not None else []
    field_keys = st.one_of(st.sampled_from(names), KEYS) if names else KEYS
    if draw(st.integers(0, 9)):
        rec["fields"] = draw(st.one_of(st.dictionaries(field_keys, VALUES, max_size=8), VALUES))
    if not draw(st.integers(0, 5)):
        rec[draw(KEYS)] = draw(VALUES)
    return rec


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records())
def test_every_field_error_of_a_record_names_its_field(record: dict[str, Any]) -> None:
    prepared, errors, code, _source = check_record(record, items=ITEMS, department=DEPT, today=TODAY)
    spec = SPECS.get(code) if code is not None else None
    assert (prepared is None) == bool(errors)
    for e in errors:
        assert_names_its_field(e, spec)


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"amount": "两千"}, "fields.amount", "“罚款金额（元）”应为数字 / amount: must be a number"),
    ({"amount": -5}, "fields.amount", "“罚款金额（元）”不能小于0 / amount: must be at least 0"),
    ({"penalty_type": "坐牢"}, "fields.penalty_type", "“处罚类别”取值不在允许范围内"),
    ({"decision_no": "第1号\n第2号"}, "fields.decision_no", "“处罚决定书文号”不能换行"),
    ({"decision_no": "x" * 300}, "fields.decision_no", "“处罚决定书文号”长度不能超过"),
    ({"colour": "red"}, "fields.colour", "本事项在目录中没有字段“colour” / no field 'colour' in the catalog item"),
], ids=["wrong_type", "out_of_range", "not_allowed", "line_break", "too_long", "unknown_field"])
def test_the_messages_of_an_items_fields(fields: dict[str, Any], field: str, message: str) -> None:
    """As a department's developer reads them: the field's Chinese name, then the code."""
    _prepared, errors, _code, _source = check_record(penalty(VALID_IDS[0], **fields), items=ITEMS, department=DEPT,
                                                     today=TODAY)
    [e] = errors
    assert e["field"] == field and message in e["message"], e


def test_the_messages_of_the_envelope() -> None:
    """A wrong date names 决定日期 / decided_at, an unknown top-level field names itself."""
    cases = [({"decided_at": "2026-02-30"}, "decided_at", "“决定日期”的日期不存在：2026-02-30（格式正确，但没有这一天） / "
                                                          "decided_at: no such date: 2026-02-30"),
             ({"decided_at": "3 March"}, "decided_at", "决定日期的格式应为 YYYY-MM-DD / decided_at must be YYYY-MM-DD"),
             ({"status": "active"}, "status", "不允许的字段“status” / field 'status' is not allowed here")]
    for change, field, message in cases:
        _prepared, errors, _code, _source = check_record({**penalty(VALID_IDS[0]), **change}, items=ITEMS,
                                                         department=DEPT, today=TODAY)
        [e] = errors
        assert e["field"] == field and e["message"].startswith(message), e
    assert set(ENVELOPE_NAMES) == records_service.ENVELOPE_KEYS  # every envelope key has its names


def test_accepted_records_build_no_message(monkeypatch: pytest.MonkeyPatch) -> None:
    """The field's names cost nothing on the good path: checking valid records (every field type of the
    default catalog, dates and enum labels included) builds no error at all."""
    batch = [penalty(VALID_IDS[i % 3], source_id=f"G{i}", penalty_type="罚款", amount=str(100 + i)) for i in range(50)]
    for code, spec in SPECS.items():  # every item of the default catalog, every field filled
        batch.append({"item": code, "id_number": VALID_IDS[0], "name": "李四", "source_id": f"G-{code}",
                      "decided_at": "2026-03-02", **({"severity": spec.severities[-1]} if spec.severities else {}),
                      "fields": {f.name: _good(f) for f in spec.fields}})

    def refused(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("an error was built for an accepted record")

    for name in ("_ferr", "_err", "no_such_day"):
        monkeypatch.setattr(spec_module, name, refused, raising=False)
    monkeypatch.setattr(records_service, "_e", refused)
    monkeypatch.setattr(records_service, "no_such_day", refused)
    outcomes, prepared = check_records(batch, items=ITEMS, department=DEPT, today=TODAY)
    assert len(prepared) == len(batch) and not any(o.errors for o in outcomes)


@pytest.mark.usefixtures("catalog_loaded")
def test_the_errors_of_ingestion_name_their_field(client, world, person, session) -> None:  # type: ignore[no-untyped-def]
    """The errors found once the record meets what is stored — another name for the ID number, a source id
    twice in a batch, a revoked or archived record changed — name their field too."""
    from sqlalchemy import update

    from xinyong.records.models import Record

    idn, name = person
    h = {**world.bearer(world.key_a), "Content-Type": "application/json"}

    def push(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        r = client.post("/api/v1/records", json={"records": records}, headers=h)
        assert r.status_code == 200, r.text
        return r.json()["results"]

    [first, second] = push([penalty(idn, name, source_id="E-1"), penalty(idn, name, source_id="E-2")])
    assert first["status"] == second["status"] == "created"
    [mismatch] = push([penalty(idn, "王五", source_id="E-3")])
    [_same, duplicate] = push([penalty(idn, name, source_id="E-4"), penalty(idn, name, source_id="E-4", amount=1)])
    assert client.post(f"/api/v1/records/{first['record_id']}/revoke", json={"reason": "依法撤销"}, headers=h).status_code == 200
    session.execute(update(Record).where(Record.id == second["record_id"]).values(status="archived"))
    session.commit()
    [revoked, archived] = push([penalty(idn, name, source_id="E-1", amount=7), penalty(idn, name, source_id="E-2", amount=7)])
    spec = SPECS["admin_penalty"]
    for result, code in ((mismatch, "name_mismatch"), (duplicate, "duplicate_in_batch"), (revoked, "revoked"),
                         (archived, "archived")):
        [e] = result["errors"]
        assert e["code"] == code, result
        assert_names_its_field(e, spec)


def _good(f: spec_module.FieldSpec) -> Any:
    """A valid value of the field ``f`` (an enum's by its Chinese label where it has one)."""
    if f.type == "enum":
        return f.labels[0][1] if f.labels else f.allowed[0]  # type: ignore[index]
    return {"date": "2026-03-01", "integer": 3, "number": 2.5, "boolean": "是"}.get(f.type, "文本")


def _check(record: dict[str, Any], sent_on: date | None = None) -> tuple[Any, list[tuple[str, str]]]:
    prepared, errors, _code, _source = check_record(record, items=ITEMS, department=DEPT, today=TODAY, sent_on=sent_on)
    return prepared, [(e["field"], e["code"]) for e in errors]


@pytest.mark.parametrize(("decided", "sent_on", "refusal"), [
    ("2026-06-01", None, None),  # decided today
    ("2026-06-02", None, ("decided_at", "future_date")),
    ("2026-05-20", date(2026, 5, 20), None),  # a file uploaded on the day of the decision, checked later
    ("2026-05-21", date(2026, 5, 20), ("decided_at", "future_date")),
    ("1970-01-01", None, None),  # on the day the person was born
    ("1969-12-31", None, ("decided_at", "out_of_range")),
])
def test_the_decision_dates_accepted_run_from_birth_to_the_day_sent(decided: str, sent_on: date | None,
                                                                    refusal: tuple[str, str] | None) -> None:
    """No decision is dated after the day it was sent (today, or the upload's day), nor before the
    person was born (VALID_IDS[0] was born on 1970-01-01); either day itself is accepted."""
    prepared, errors = _check(penalty(VALID_IDS[0], decided_at=decided), sent_on=sent_on)
    assert errors == ([refusal] if refusal else [])
    assert (prepared is None) == bool(refusal)
    if prepared is not None:
        assert prepared.decided_at == date.fromisoformat(decided)


def test_the_earliest_decision_date_is_the_first_of_october_1949() -> None:
    elder = new_id_number(born=date(1930, 5, 1))
    prepared, errors = _check(penalty(elder, decided_at="1949-10-01"))
    assert errors == [] and prepared.decided_at == date(1949, 10, 1)
    assert _check(penalty(elder, decided_at="1949-09-30"))[1] == [("decided_at", "out_of_range")]


@pytest.mark.parametrize(("ended", "sent_on", "refused"), [
    ("2026-06-01", None, False), ("2026-06-02", None, True),
    ("2026-05-20", date(2026, 5, 20), False), ("2026-05-21", date(2026, 5, 20), True),
])
def test_the_end_of_the_act_may_be_no_later_than_the_day_sent(ended: str, sent_on: date | None, refused: bool) -> None:
    prepared, errors = _check(penalty(VALID_IDS[0], decided_at="2026-03-02", act_ended_on=ended), sent_on=sent_on)
    assert errors == ([("fields.act_ended_on", "future_date")] if refused else [])
    if not refused:
        assert prepared.fields["act_ended_on"] == ended


@pytest.mark.parametrize(("item", "severity", "outcome"), [
    ("admin_penalty", "serious", "serious"), ("admin_penalty", " general ", "general"),
    ("admin_penalty", None, ("severity", "missing")), ("admin_penalty", "", ("severity", "missing")),
    ("admin_penalty", "grave", ("severity", "not_allowed")), ("tax_violation", "minor", ("severity", "not_allowed")),
    ("honor", None, None), ("honor", "", None), ("honor", "general", ("severity", "not_allowed")),
])
def test_severity_is_required_where_the_item_has_severities_and_refused_where_it_has_none(item: str, severity: Any,
                                                                                          outcome: Any) -> None:
    spec = SPECS[item]
    record = {"item": item, "id_number": VALID_IDS[0], "name": "李四", "source_id": "S-1", "decided_at": "2026-03-02",
              "fields": {f.name: _good(f) for f in spec.fields if f.required}}
    if severity is not None:
        record["severity"] = severity
    prepared, errors = _check(record)
    if isinstance(outcome, tuple):
        assert errors == [outcome] and prepared is None
    else:
        assert errors == [] and prepared.severity == outcome


@pytest.mark.parametrize("fields", [["decision_no"], "decision_no", 5, True])
@pytest.mark.parametrize("item", ["admin_penalty", "no_such_item"])
def test_fields_that_are_no_object_are_refused_as_fields_wrong_type(item: str, fields: Any) -> None:
    record = {**penalty(VALID_IDS[0]), "item": item, "fields": fields}
    _prepared, errors = _check(record)
    assert ("fields", "wrong_type") in errors


def test_a_record_without_fields_is_told_each_required_field_is_missing() -> None:
    record = penalty(VALID_IDS[0])
    del record["fields"]
    prepared, errors = _check(record)
    required = [f"fields.{f.name}" for f in SPECS["admin_penalty"].fields if f.required]
    assert prepared is None and errors == [(name, "missing") for name in required]
    assert _check({**record, "fields": None})[1] == errors


@pytest.mark.parametrize("fields", [{"decision_no": "1"}, {}, None])
def test_an_unknown_item_with_fields_as_an_object_or_none_is_refused_for_its_item_alone(fields: Any) -> None:
    record = {**penalty(VALID_IDS[0]), "item": "no_such_item", "fields": fields}
    if fields is None:
        del record["fields"]
    assert _check(record)[1] == [("item", "unknown_item")]
