"""A malformed CSV row in a batch comparison file: a row whose quotes break on its own line is that
row's refusal (``malformed_row``) and the other rows are answered; a quote that stays open across
line breaks — where the rows after it can no longer be told apart — refuses the whole file, naming
the row and line where the cell starts and the line where the break was found."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select
from tests.measures.measures_support import subject_with_status
from tests.support import new_id_number

from xinyong.imports.parsers import FileError
from xinyong.measures import batch
from xinyong.measures.models import Check


def _upload(client, world, content: bytes):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/checks/batch", data={"scenario": "civil_service_hiring"},
                       files={"file": ("名单.csv", content, "text/csv")}, headers=world.bearer(world.key_a))


def test_a_row_broken_on_its_own_line_is_refused_alone(client, world, db, vault):  # type: ignore[no-untyped-def]
    with db.session() as s:
        listed, _ = subject_with_status(s, vault, grade="D", lists=["serious_dishonesty"])
    unknown, broken, last = new_id_number(), new_id_number(), new_id_number()
    # row 3: text after a closing quote; row 5: a quote opened and then closed again on the same line,
    # the rest of the line (which opens one more quote) dropped with it; row 6: a quote never closed
    # on the file's last line, which merges nothing
    content = (f'身份证号码,姓名\n{listed},王小明\n{broken},"李"四\n{unknown},赵六\n"{broken}"x,"孙\n{last},"钱七'
               ).encode()
    r = _upload(client, world, content)
    assert r.status_code == 202, r.text
    client.app.state.compare_runner.wait()
    job = client.get(f"/api/v1/checks/batch/{r.json()['id']}", headers=world.bearer(world.key_a)).json()
    assert job["status"] == "done", job
    assert (job["rows_total"], job["counts"]) == (5, {"matched": 1, "unknown": 1, "invalid": 3})
    text = client.get(job["result_url"], headers=world.bearer(world.key_a)).content.decode("utf-8-sig")
    by_row = {int(x[0]): x for x in list(csv.reader(io.StringIO(text)))[1:]}
    assert sorted(by_row) == [2, 3, 4, 5, 6]
    assert by_row[2][5] == "D" and by_row[4][4].startswith("unknown")
    for n in (3, 5, 6):
        assert by_row[n][4].startswith("invalid") and by_row[n][9].startswith("malformed_row: "), by_row[n]
        assert "CSV" in by_row[n][9] and "/" in by_row[n][9]
    assert by_row[3][1] == broken[:6] + "********" + broken[-4:]  # the row is recognisable, masked
    assert by_row[3][2] == "李*"
    for number in (listed, unknown, broken, last):
        assert number not in text
    with db.session() as s:
        refusals = sorted((c.outcome, c.refusal) for c in s.scalars(select(Check).where(Check.job_id == job["id"]))
                          if c.refusal)
    assert refusals == [("refused", "malformed_row")] * 3


def test_a_quote_left_open_across_lines_refuses_the_file_naming_where(client, world):  # type: ignore[no-untyped-def]
    a, b, c, d = (new_id_number() for _ in range(4))
    # the quote opened in row 3 (line 3) runs over line 4 and closes on line 5, followed by text
    content = f'身份证号码,姓名\n{a},王五\n{b},"李四\n{c},赵六\n{d},"孙"八\n'.encode()
    r = _upload(client, world, content)
    assert r.status_code == 422 and r.json()["code"] == "malformed_csv", r.text
    message = r.json()["message"]
    assert "第3行" in message and "文件第5行" in message, message
    assert "row 3" in message and "line 5" in message, message
    assert r.json()["errors"][0]["row"] == 3 and r.json()["errors"][0]["line"] == 3
    for number in (a, b, c, d):
        assert number not in r.text
    # a quote never closed: it swallows every line to the end of the file
    r = _upload(client, world, f'身份证号码,姓名\n{a},"王五\n{b},李四\n{c},赵六\n'.encode())
    assert r.status_code == 422 and r.json()["code"] == "malformed_csv", r.text
    assert "第2行" in r.json()["message"] and "row 2" in r.json()["message"]
    assert "never closed" in r.json()["message"] or "not closed" in r.json()["message"]
    # a stray pair of quotes: valid CSV to a strict reader, but row 3 went into row 2's name
    r = _upload(client, world, f'身份证号码,姓名\n{a},"王五\n{b},李四"\n{c},赵六\n'.encode())
    assert r.status_code == 422 and r.json()["code"] == "malformed_csv", r.text
    assert "第2行（文件第2至3行）" in r.json()["message"] and "row 2 (lines 2 to 3" in r.json()["message"]
    for number in (a, b, c):
        assert number not in r.text


def test_rows_after_a_malformed_one_keep_their_spreadsheet_numbers() -> None:
    """The parser itself: the broken line is one row (a spreadsheet shows it as one), numbered as
    such, and the rows after it follow on — including after a blank line and a two-line cell."""
    rows, numbers, bad = batch._rows('a,b\n1,"x"y\n\n2,"p\nq"\n3,z\n')
    assert rows[1:] == [("1", "xy"), ("2", "p\nq"), ("3", "z")]
    assert [batch.Layout(0, None, 0, numbers).row_number(i) for i in range(len(rows))] == [1, 2, 4, 5]
    assert bad == {1}
    try:
        batch._rows('a,b\n1,"x\n2,y\n')
    except FileError as exc:
        assert exc.code == "malformed_csv" and "row 2" in exc.message
    else:
        raise AssertionError("an open quote across lines must refuse the file")
