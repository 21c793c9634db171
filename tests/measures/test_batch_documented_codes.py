"""docs/integration.md's table of the batch upload's refusals lists exactly the codes the API answers
(each case uploaded here), and its "other departments" exception (403 other_department for a check
read back or reported on) and the resume's 409 not_interrupted are what the API answers."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

from tests.support import deactivated_once_authenticated, login, new_id_number

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "integration.md"


def _upload_table() -> set[str]:
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index("The upload answers `202` with the job")
    table = text[start:text.index("\n\n", text.index("| status | code | when |", start))]
    return {code for line in table.splitlines()[3:] for code in re.findall(r"`([a-z_]+)`", line.split("|")[2])}


def test_the_documented_upload_refusals_are_the_ones_answered(client, world, db, monkeypatch):  # type: ignore[no-untyped-def]
    h = world.bearer(world.key_a)

    def code(content: bytes | None, scenario: str | None = "awards", headers: dict[str, str] | None = None) -> str:
        r = client.post("/api/v1/checks/batch", data={"scenario": scenario} if scenario is not None else {},
                        files={"file": ("a.csv", content, "text/csv")} if content is not None else None,
                        headers=h if headers is None else headers)
        assert r.status_code in (403, 413, 422), r.text
        return str(r.json()["code"])

    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "x")
        z.writestr("xl/workbook.xml", "x")
        z.writestr("xl/big.bin", b"0" * (4 << 20))
    one = f"{new_id_number()}\n".encode()
    seen = {
        code(one, scenario=None), code(None), code(one, scenario=""),
        code(one, scenario="nope"),
        code(b""), code("身份证号码,姓名\n".encode()),
        code("编号,名字\n1,张三\n".encode()),
        code(b"%PDF-1.7\n"), code(b"PK\x03\x04" + b"\x00" * 40),
        code(bomb.getvalue()),
        code("身份证号码\n".encode("utf-16")),
        code('身份证号码\n1,"x\n2\n'.encode()),
        code(("身份证号码\n" + "1\n" * 500_001).encode()),
        code(b"1\n" * (11 << 20)),
    }
    csrf = login(client, "admin")
    seen.add(code(one, headers={"X-CSRF-Token": csrf}))
    csrf = login(client, "officer_b")
    with monkeypatch.context() as m:  # deactivated once the session was accepted (later ones are refused)
        deactivated_once_authenticated(m, world.dept_b.id)
        seen.add(code(one, headers={"X-CSRF-Token": csrf}))
    assert seen == _upload_table()


def test_the_documented_exceptions_and_the_resume_conflict(client, world, db):  # type: ignore[no-untyped-def]
    text = GUIDE.read_text(encoding="utf-8")
    assert "| 403 `other_department` |" in text and "`409 not_interrupted`" in text
    r = client.post("/api/v1/checks", json={"id_number": new_id_number(), "scenario": "awards"},
                    headers=world.bearer(world.key_a))
    cid = r.json()["check_id"]
    assert client.get(f"/api/v1/checks/{cid}", headers=world.bearer(world.key_b)).json()["code"] == "other_department"
    r = client.post(f"/api/v1/checks/{cid}/feedback", json={"measure": "x", "applied": True},
                    headers=world.bearer(world.key_b))
    assert (r.status_code, r.json()["code"]) == (403, "other_department")
    r = client.post("/api/v1/checks/batch", data={"scenario": "awards"},
                    files={"file": ("a.csv", f"{new_id_number()}\n".encode(), "text/csv")},
                    headers=world.bearer(world.key_a))
    client.app.state.compare_runner.wait()
    r = client.post(f"/api/v1/checks/batch/{r.json()['id']}/resume", headers=world.bearer(world.key_a))
    assert (r.status_code, r.json()["code"]) == (409, "not_interrupted")
