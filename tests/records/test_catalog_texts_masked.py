"""An administrator's catalog item texts — names, legal basis, fields' Chinese names, enum labels —
are shown to every department (pages, upload templates, the catalog API every role reads) and, the
basis, with the item's records: an ID number written in them is kept and shown masked, as the
measures' texts and the item's change note are (``catalog.spec.parse_item``; migration 0025 for the
versions saved before). The list kinds' texts likewise (``lists.service.parse_kind``)."""

from __future__ import annotations

import pytest
from tests.support import login, new_id_number

pytestmark = pytest.mark.usefixtures("catalog_loaded")


def test_an_id_number_in_an_items_texts_is_stored_and_shown_masked(client, world, db):  # type: ignore[no-untyped-def]
    from xinyong.catalog.models import CatalogItem
    from xinyong.catalog.service import get_current
    from xinyong.catalog.spec import to_data

    number = new_id_number()
    shown = number[:6] + "*" * 8 + number[-4:]
    with db.session() as s:
        spec = to_data(get_current(s, "honor").spec)
    spec["name"] = f"表彰{number}"
    spec["name_en"] = f"Award {number}"
    spec["legal_basis"] = f"依据当事人{number}的申请"
    spec["fields"][0]["name_zh"] = f"荣誉名称{number}"
    spec["fields"][1]["labels"]["national"] = f"国家级{number}"
    csrf = login(client, "admin")
    r = client.put("/api/v1/catalog/items/honor", json={"spec": spec}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    assert number not in r.text and number[6:14] not in r.text
    read = client.get("/api/v1/catalog/items/honor", headers=world.bearer(world.key_a))
    assert read.status_code == 200 and number not in read.text
    got = read.json()
    assert got["name"] == f"表彰{shown}" and got["legal_basis"] == f"依据当事人{shown}的申请"
    assert got["name_en"] == f"Award {shown}"
    with db.session() as s:
        row = s.query(CatalogItem).filter_by(code="honor", is_current=True).one()
        kept = (row.name, row.name_en, row.legal_basis, str(row.spec))
    assert all(number not in text for text in kept)
    assert row.spec["fields"][0]["name_zh"] == f"荣誉名称{shown}"
    assert row.spec["fields"][1]["labels"]["national"] == f"国家级{shown}"
    template = client.get("/workspace/upload?item=honor", headers={"Accept": "text/html"})
    assert number not in template.text


def test_a_definition_sent_again_makes_no_new_version(client, world, db):  # type: ignore[no-untyped-def]
    """The masked definition is the stored one: the same edit sent twice is one version."""
    from xinyong.catalog.service import get_current
    from xinyong.catalog.spec import to_data

    number = new_id_number()
    with db.session() as s:
        spec = to_data(get_current(s, "honor").spec)
    spec["legal_basis"] = f"依据{number}"
    csrf = login(client, "admin")
    first = client.put("/api/v1/catalog/items/honor", json={"spec": spec}, headers={"X-CSRF-Token": csrf})
    again = client.put("/api/v1/catalog/items/honor", json={"spec": spec}, headers={"X-CSRF-Token": csrf})
    assert first.status_code == again.status_code == 200
    assert first.json()["version"] == again.json()["version"] == 2


def test_list_kind_texts_are_masked(db):  # type: ignore[no-untyped-def]
    from xinyong.lists.service import parse_kind

    number = new_id_number()
    shown = number[:6] + "*" * 8 + number[-4:]
    kind = parse_kind({"code": "test_red", "name_zh": f"红名单{number}", "name_en": f"Red {number}", "kind": "red",
                       "source": "decision", "public": True,
                       "params": {"legal_basis": f"依据{number}",
                                  "categories": [{"code": "aa", "name_zh": f"类{number}", "name_en": f"C {number}"}]}})
    assert number not in str(kind)
    assert kind["name_zh"] == f"红名单{shown}" and kind["params"]["legal_basis"] == f"依据{shown}"
    assert kind["params"]["categories"][0]["name_en"] == f"C {shown}"


def test_a_long_item_code_holding_an_id_number_is_masked_before_it_is_cut(client, world, db):  # type: ignore[no-untyped-def]
    """An item code from the path is echoed in the refusal and registered with a refused edit, cut to 64
    characters: cut first, a number typed after 50 characters kept its first 14 digits (its region and
    birth date), no longer an ID number's shape, so not masked. Masked first, then cut (as
    ``auth.service.typed_user_name`` does a typed user name)."""
    from tests.web.web_support import audit

    number = new_id_number()
    code = "x" * 50 + number
    read = client.get(f"/api/v1/catalog/items/{code}", headers=world.bearer(world.key_a))
    assert read.status_code == 404, read.text
    assert number[6:14] not in read.text
    csrf = login(client, "admin")
    r = client.put(f"/api/v1/catalog/items/{code}", json={"spec": {"name": "x"}}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 404, r.text
    assert number[6:14] not in r.text
    [refused] = audit(db, "catalog.update", outcome="failed")
    assert number[6:14] not in str(refused.details) and refused.details["item"].startswith("x" * 50)
