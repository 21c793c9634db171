"""The ID numbers in the guides' examples are valid ones: a department's developer who copies a curl
command from docs/integration.md gets the answer it shows, not a 422 for a wrong check digit."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from xinyong.privacy import identity

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
ID_LIKE = re.compile(r"(?<![0-9A-Za-z])[1-9][0-9]{16}[0-9Xx](?![0-9A-Za-z])")


def test_the_guides_hold_examples() -> None:
    assert any(ID_LIKE.search(p.read_text(encoding="utf-8")) for p in DOCS)


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_example_id_number_in_the_guides_is_valid(path: Path) -> None:
    for number in ID_LIKE.findall(path.read_text(encoding="utf-8")):
        identity.check(number, date(2026, 11, 26))  # raises InvalidIdNumber, naming why


def test_the_integration_guide_gives_the_record_format_of_every_item() -> None:
    """Issue 3, point 7: the guide a department's developers follow gives the record format per item —
    each default item's fields (code name, Chinese name, type, required), its severities and display
    periods, in step with the catalog shipped (a changed default fails here until the guide follows)."""
    import yaml

    guide = (ROOT / "docs" / "integration.md").read_text(encoding="utf-8")
    catalog = yaml.safe_load((ROOT / "src" / "xinyong" / "catalog" / "default_catalog.yaml").read_text(encoding="utf-8"))
    for item in catalog["items"]:
        head = re.search(rf"^\*\*`{item['code']}`\*\* {item['name']} \(([^)]*)\) — display ([^\n]*)$", guide, re.M)
        assert head, f"no format section for {item['code']}"
        for sev in item.get("severities") or []:
            assert f"`{sev}`" in head.group(1), (item["code"], sev)
        periods = item["display"].get("by_severity") or {"": item["display"]["default"]}
        for key, p in periods.items():
            said = f"{p['min_months']}–{p['max_months']} months" + ("" if p["publish"] else ", not published")
            assert said in head.group(2), (item["code"], key, said)
        section = guide[head.end():].split("\n**`", 1)[0]
        for f in item["fields"]:
            row = f"| `{f['name']}` | {f['name_zh']} | {f['type']} | {'yes' if f['required'] else 'no'} |"
            assert row in section, (item["code"], row)


def test_the_integration_guides_rejected_records_are_what_the_platform_answers() -> None:
    """The guide's example answer of ``POST /api/v1/records`` shows rejected records with their errors: the
    errors (field, code, message — a message naming its field) are exactly what those records get."""
    import json

    from xinyong.catalog.service import Item, read_yaml
    from xinyong.records.service import DepartmentRef, check_record

    guide = (ROOT / "docs" / "integration.md").read_text(encoding="utf-8")
    block = re.search(r'```json\n(\{"results": \[.*?)\n```', guide, re.S)
    assert block, "no example answer of POST /api/v1/records"
    shown = {r["index"]: r["errors"] for r in json.loads(block.group(1))["results"] if r["status"] == "rejected"}
    valid = {"item": "admin_penalty", "id_number": "12010119800506101X", "name": "李四", "source_id": "和市监罚〔2026〕17号",
             "decided_at": "2026-03-02", "severity": "general",
             "fields": {"decision_no": "和市监罚〔2026〕17号", "violation": "未按规定公示", "penalty_type": "罚款", "amount": 2000}}
    sent = {1: {**valid, "id_number": "120101198005061011"},  # the check character is wrong
            2: {**valid, "decided_at": "2026-02-30", "fields": {**valid["fields"], "amount": "两千"}}}
    items = {s.code: Item(id=i + 1, version=1, spec=s) for i, s in enumerate(read_yaml())}
    assert check_record(valid, items=items, department=DepartmentRef(1, "scjgj"), today=date(2026, 11, 26))[1] == []
    assert set(shown) == set(sent)
    for index, record in sent.items():
        _prepared, errors, _code, _source = check_record(record, items=items, department=DepartmentRef(1, "scjgj"),
                                                         today=date(2026, 11, 26))
        assert errors == shown[index], (index, errors)


def test_the_guides_command_examples_name_departments_the_demo_has() -> None:
    """A ``--dept CODE`` in a guide's example names a department the demo district builds (区市场监管局 is
    ``scjg``): a developer trying ``xinyong import 处罚.csv --item admin_penalty --dept …`` from
    docs/imports.md on the demo got "department does not exist" for a code no page or guide names."""
    from xinyong.demo import HEPING_DEPARTMENTS

    codes = {row[0] for row in HEPING_DEPARTMENTS}
    for path in DOCS:
        for code in re.findall(r"--dept ([a-z][a-z0-9_]*)\b", path.read_text(encoding="utf-8")):
            assert code in codes, (path.name, code)
