"""Record builders for the records tests."""

from __future__ import annotations

from typing import Any

from xinyong.catalog.spec import ItemSpec


def penalty(id_number: str, name: str = "李四", source_id: str = "P-1", severity: str = "general",
            decided_at: str = "2026-03-02", **fields) -> dict:  # type: ignore[no-untyped-def]
    f = {"decision_no": "和市监罚〔2026〕1号", "violation": "未按规定公示", "penalty_type": "罚款", "amount": 2000}
    f.update(fields)
    return {"item": "admin_penalty", "id_number": id_number, "name": name, "source_id": source_id,
            "decided_at": decided_at, "severity": severity, "fields": f}


# how the record envelope's fields are called, (Chinese, English): written out here, not read from the code
ENVELOPE_NAMES = {"item": ("事项", "item"), "id_number": ("身份证号码", "id_number"), "name": ("姓名", "name"),
                  "source_id": ("来源编号", "source_id"), "decided_at": ("决定日期", "decided_at"),
                  "severity": ("严重程度", "severity"), "fields": ("fields", "fields")}


def names_of(spec: ItemSpec | None, fld: str) -> tuple[str, str]:
    """A record error's field as its message must name it: the envelope's names, an item's field by the
    catalog's ``name_zh`` and ``name``."""
    if fld in ENVELOPE_NAMES:
        return ENVELOPE_NAMES[fld]
    assert spec is not None and fld.startswith("fields."), fld
    f = spec.field_index[fld[len("fields."):]]
    return f.name_zh, f.name


def assert_names_its_field(error: dict[str, Any], spec: ItemSpec | None) -> None:
    """``error``'s message names its field: the Chinese label before " / ", the English one after it."""
    fld, message = error["field"], error["message"]
    if error["code"] == "unknown_field":  # a field the catalog does not have: named as it was sent
        name = fld[len("fields."):] if fld.startswith("fields.") else fld
        zh_label, en_labels = name, (name,)
    else:
        zh_label, en_label = names_of(spec, fld)
        # the ID number's own checks (shared with the checks API) say "ID number" in English
        en_labels = (en_label, "ID number") if fld == "id_number" else (en_label,)
    zh, sep, en = message.partition(" / ")
    assert sep, message
    assert zh_label in zh, (fld, message)
    assert any(label in en for label in en_labels), (fld, message)
