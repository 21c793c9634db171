"""A batch comparison's CSV comes out of Excel or WPS like an import's: ID numbers kept as text by an
apostrophe or ="…", or stored as numbers — shown as 1.20101E+17, or cut to 15 digits and 000. The
first are checked as the numbers they are; the others are refused as ``id_stored_as_number``, saying
what happened and how to fix it, and a cut number is never answered for whoever has it."""

from __future__ import annotations

import csv
import io
from datetime import date

from tests.measures.measures_support import subject_with_status
from tests.support import new_id_number

from xinyong.privacy.identity import make_id_number


def _compared(client, world, content: bytes) -> tuple[dict, dict[int, list[str]]]:  # type: ignore[no-untyped-def,type-arg]
    r = client.post("/api/v1/checks/batch", data={"scenario": "civil_service_hiring"},
                    files={"file": ("名单.csv", content, "text/csv")}, headers=world.bearer(world.key_a))
    assert r.status_code == 202, r.text
    client.app.state.compare_runner.wait()
    job = client.get(f"/api/v1/checks/batch/{r.json()['id']}", headers=world.bearer(world.key_a)).json()
    assert job["status"] == "done", job
    res = client.get(job["result_url"], headers=world.bearer(world.key_a))
    rows = list(csv.reader(io.StringIO(res.content.decode("utf-8-sig"))))
    return job, {int(x[0]): x for x in rows[1:]}


def test_an_id_number_in_scientific_notation_says_it_was_stored_as_a_number(client, world, db, vault):  # type: ignore[no-untyped-def]
    with db.session() as s:
        listed, _ = subject_with_status(s, vault, grade="D", lists=["serious_dishonesty"])
        other, _ = subject_with_status(s, vault, grade="D", lists=["serious_dishonesty"])
    content = (f"身份证号码,姓名\n1.20101E+17,王小明\n'{listed},王小明\n=\"{other}\",王小明\n"
               "1.20101198001E+17,李四\n").encode("gbk")
    job, by_row = _compared(client, world, content)
    assert job["counts"] == {"matched": 2, "unknown": 0, "invalid": 2}, job
    for n in (2, 5):
        assert by_row[n][4].startswith("invalid") and by_row[n][9].startswith("id_stored_as_number: "), by_row[n]
        assert "文本" in by_row[n][9] and "format the column as text" in by_row[n][9]
    # kept as text by the export (Excel's apostrophe, a ="…" formula): checked as the number inside
    assert by_row[3][5] == "D" and by_row[3][1] == listed[:6] + "********" + listed[-4:]
    assert by_row[4][5] == "D"


def _ending_in_000() -> str:
    """A valid ID number that ends in 000 (sequence x00, check digit 0): what a cut number may be."""
    for day in range(1, 400):
        number = make_id_number("120101", date.fromordinal(date(1980, 1, 1).toordinal() + day), 100)
        if number.endswith("000"):
            return number
    raise AssertionError("no such number")


def test_id_numbers_cut_to_15_digits_and_000_are_refused_not_answered(client, world, db, vault):  # type: ignore[no-untyped-def]
    """A column of ID numbers saved as numbers: each comes out as its first 15 digits and 000, and
    one in eleven is a valid number — someone else's, who must not be answered for (before, that
    row got the other person's grade and measures)."""
    victim = _ending_in_000()
    with db.session() as s:
        subject_with_status(s, vault, grade="D", lists=["serious_dishonesty"], number=victim)
    cut = [victim] + [new_id_number()[:15] + "000" for _ in range(3)]
    fine = [new_id_number() for _ in range(6)]
    content = ("身份证号码,姓名\n" + "".join(f"{n},王小明\n" for n in [*cut, *fine])).encode()
    job, by_row = _compared(client, world, content)
    assert job["counts"] == {"matched": 0, "unknown": 6, "invalid": 4}, job
    for n in range(2, 6):
        assert by_row[n][9].startswith("id_stored_as_number: ") and by_row[n][5] == "", by_row[n]
    # one number ending in 000 among many rows is checked on its own, as an import's is
    job, by_row = _compared(client, world, ("身份证号码,姓名\n" + "".join(
        f"{n},王小明\n" for n in [victim, *(new_id_number() for _ in range(60))])).encode())
    assert by_row[2][5] == "D" and job["counts"]["matched"] == 1, job


def test_headers_and_separators_are_read_as_imports_read_them(client, world, db, vault):  # type: ignore[no-untyped-def]
    """``*身份证号码`` (a required-column marker) and ``姓　名`` (a form's two characters spaced apart)
    are the ID-number and name columns, as in an import's header (before: the first refused the file
    as missing_columns, the second left the names unchecked); a title line above a tab-separated
    header does not make the file comma-separated (before: every row one cell, all invalid)."""
    with db.session() as s:
        listed, _ = subject_with_status(s, vault, grade="D", lists=["serious_dishonesty"])
    job, by_row = _compared(client, world, f"*身份证号码,姓　名\n{listed},王小明\n{listed},李四\n".encode("gbk"))
    assert job["counts"]["matched"] == 2, job
    assert by_row[2][3] == "是 yes" and by_row[3][3] == "否 no"
    job, by_row = _compared(client, world, f"2026年招录人员名单\n身份证号码\t姓名\n{listed}\t王小明\n".encode())
    assert job["counts"] == {"matched": 1, "unknown": 0, "invalid": 0}, job
    assert by_row[3][5] == "D" and by_row[3][3] == "是 yes"


def test_a_nul_byte_in_the_csv_is_named_with_its_line(client, world):  # type: ignore[no-untyped-def]
    """Refused (no NUL in a CSV's text) saying what and where, not "batch comparison takes CSV files
    only" about a CSV."""
    content = f"身份证号码,姓名\n{new_id_number()},王小明\n{new_id_number()},李四\x00\n".encode()
    r = client.post("/api/v1/checks/batch", data={"scenario": "civil_service_hiring"},
                    files={"file": ("名单.csv", content, "text/csv")}, headers=world.bearer(world.key_a))
    assert r.status_code == 422 and r.json()["code"] == "unsupported_format", r.text
    assert "第3行有空字符" in r.json()["message"] and "line 3 of the file holds a NUL" in r.json()["message"]
