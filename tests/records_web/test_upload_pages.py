"""Workspace upload pages: the form with its items and templates, the upload, the progress view
(HTMX polling while the job runs), the report, resume, and the department's list of jobs."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, update
from tests.records_web.records_web_support import HTMX
from tests.support import SYSTEM, new_id_number
from tests.web.web_support import audit, hidden

from xinyong.audit.service import Actor
from xinyong.db import utcnow
from xinyong.imports import service as imports_service
from xinyong.imports.api import runner_of
from xinyong.imports.models import ImportJob
from xinyong.imports.runner import run_job
from xinyong.records.models import Record
from xinyong.records.service import DepartmentRef

pytestmark = pytest.mark.usefixtures("catalog_loaded")

UPLOAD = "/workspace/upload"
JOBS = "/workspace/imports"
HEADER = ["身份证号码", "姓名", "来源编号", "决定日期", "严重程度", "处罚决定书文号", "违法行为类型", "处罚类别",
          "罚款金额（元）"]


def penalty_csv(n: int = 3, bad: int = 1, prefix: str = "U") -> tuple[bytes, list[str]]:
    """``n`` valid penalty rows and ``bad`` rows with an invalid ID number (last); UTF-8 with BOM."""
    people = [new_id_number(born=date(1970, 1, 1) + timedelta(days=400 * i)) for i in range(n)]
    rows = [[p, "赵六", f"{prefix}{i}", "2026-03-02", "一般", f"和市监罚〔2026〕{i}号", "未按规定公示", "罚款", "100"]
            for i, p in enumerate(people)]
    rows += [["12345", "钱七", f"{prefix}X{i}", "2026-03-02", "一般", "和市监罚〔2026〕X号", "未按规定公示", "罚款", "1"]
             for i in range(bad)]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(HEADER)
    w.writerows(rows)
    return b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8"), people


def _upload(client, csrf: str, data: bytes, item: str = "admin_penalty", name: str = "处罚.csv"):  # type: ignore[no-untyped-def]
    return client.post(UPLOAD, data={"csrf_token": csrf, "item": item},
                       files={"file": (name, data, "text/csv")}, follow_redirects=False)


def _imported_page(client, app, csrf: str, data: bytes, created: int, name: str = "处罚.csv") -> str:  # type: ignore[no-untyped-def]
    """Upload, let the job run, and return its page, which counts ``created`` records."""
    r = _upload(client, csrf, data, name=name)
    assert r.status_code == 303, r.text
    runner_of(app).wait()
    html = client.get(r.headers["location"]).text
    assert re.search(rf'class="count-created">{created}<', html), html
    return html


def _job_id(location: str) -> int:
    m = re.fullmatch(rf"{JOBS}/(\d+)", location)
    assert m, location
    return int(m.group(1))


def test_the_upload_page(client, world, login):
    csrf = login(client, "officer_a")
    page = client.get(UPLOAD)
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in page.text and hidden(page.text, "csrf_token") == csrf
    assert '<option value="admin_penalty">' in page.text and "行政处罚信息" in page.text
    assert 'href="/api/v1/imports/templates/admin_penalty.csv"' in page.text
    assert 'href="/api/v1/imports/templates/admin_license.xlsx"' in page.text
    # the template links work with the browser's session
    tpl = client.get("/api/v1/imports/templates/admin_penalty.csv")
    assert tpl.status_code == 200 and tpl.headers["content-type"].startswith("text/csv")
    assert "处罚决定书文号" in tpl.content.decode("utf-8-sig")
    assert client.get(f"{UPLOAD}?item=admin_license").text.count('<option value="admin_license" selected>') == 1


def test_upload_progress_and_report(client, app, world, login, db):
    csrf = login(client, "officer_a")
    data, people = penalty_csv(3, bad=1)
    r = _upload(client, csrf, data)
    assert r.status_code == 303, r.text
    job_id = _job_id(r.headers["location"])
    runner_of(app).wait()
    page = client.get(r.headers["location"])
    assert page.status_code == 200
    html = page.text
    assert "已完成" in html and "处罚.csv" in html
    assert re.search(r'class="rows-done">4<', html) and re.search(r'class="rows-total">4<', html)
    for cls, n in (("created", 3), ("updated", 0), ("unchanged", 0), ("rejected", 1)):
        assert re.search(rf'class="count-{cls}">{n}<', html), cls
    assert 'hx-trigger="every 1s"' not in html  # finished: no more polling
    assert f'href="/api/v1/imports/{job_id}/errors.csv"' in html
    errors = re.search(r'<table class="striped" id="row-errors">(.*?)</table>', html, re.S).group(1)
    assert ">5<" in errors and "invalid_id_number" in errors and "身份证号码" in errors
    for p in people:
        assert p not in html
    report = client.get(f"/api/v1/imports/{job_id}/errors.csv")
    assert report.status_code == 200 and "invalid_id_number" in report.content.decode("utf-8-sig")
    # the HTMX poll gets just the state block
    part = client.get(r.headers["location"], headers=HTMX)
    assert "<html" not in part.text and part.text.lstrip().startswith('<section id="job-state"')
    # the job is listed, and its records are in "my records"
    jobs = client.get(JOBS)
    assert f'href="{JOBS}/{job_id}"' in jobs.text and "已完成" in jobs.text
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Record).where(Record.source_id.like("U%"))) == 3
    assert "U0" in client.get("/workspace/records").text
    assert len(audit(db, "imports.create", actor_label="officer_a")) == 1
    # the same file again adds nothing
    r = _upload(client, csrf, data)
    runner_of(app).wait()
    again = client.get(r.headers["location"]).text
    assert re.search(r'class="count-unchanged">3<', again) and re.search(r'class="count-created">0<', again)


def test_the_job_page_names_the_columns_ignored(client, app, world, login):
    """序号 and 备注 are accepted and ignored; the upload page and the job's page say so."""
    csrf = login(client, "officer_a")
    form = client.get(UPLOAD).text
    assert "“序号”“备注”列会被忽略（不导入、不保存）" in form and "被筛选掉或隐藏的行" in form
    data, _people = penalty_csv(2, bad=0, prefix="G")
    lines = data.decode("utf-8-sig").splitlines()
    data = "\r\n".join(f"序号,{line},备注" if i == 0 else f"{i},{line},见附件" for i, line in enumerate(lines)).encode()
    html = _imported_page(client, app, csrf, data, 2)
    assert re.search(r'<p class="notice job-note" role="status" data-code="ignored_columns">已忽略的列：“序号”、“备注”'
                     r'[^<]*columns ignored', html), html


def test_the_job_page_names_the_hidden_columns_imported(client, app, world, login):
    """A column of the item that the workbook hides is imported; the job's page says so, with its letter."""
    from tests.imports.imports_support import penalty_rows, with_cols, xlsx_bytes

    csrf = login(client, "officer_a")
    data = with_cols(xlsx_bytes(HEADER, penalty_rows(2, prefix="HP")), '<cols><col min="3" max="3" hidden="1"/></cols>')
    html = _imported_page(client, app, csrf, data, 2, name="处罚.xlsx")
    assert re.search(r'<p class="notice job-note" role="status" data-code="hidden_columns">已导入隐藏的列：“来源编号”（隐藏的C列）'
                     r"[^<]*hidden columns imported: &#39;来源编号&#39; \(hidden column C\)", html), html


def test_the_progress_view_polls_while_the_job_runs(client, world, login, db, vault):
    login(client, "officer_a")
    data, _ = penalty_csv(2, bad=0, prefix="Q")
    actor = Actor(type="user", id=str(world.users["officer"].id), label="officer_a", department_id=world.dept_a.id)
    with db.session() as s:
        job = imports_service.create_job(s, vault=vault, department=DepartmentRef(world.dept_a.id, "scjgj"),
                                         item_code="admin_penalty", filename="q.csv", data=data, actor=actor)
        job_id = job.id
    page = client.get(f"{JOBS}/{job_id}")
    assert page.status_code == 200
    assert f'hx-get="/workspace/imports/{job_id}?autorefresh=1" hx-trigger="every 1s" hx-swap="outerHTML"' in page.text
    assert "排队中" in page.text and re.search(r'class="rows-total">…<', page.text)
    part = client.get(f"{JOBS}/{job_id}", headers=HTMX)
    assert 'hx-trigger="every 1s"' in part.text and "<html" not in part.text
    run_job(db, vault, job_id)
    part = client.get(f"{JOBS}/{job_id}", headers=HTMX)
    assert 'hx-trigger' not in part.text and "已完成" in part.text and "没有错误" in part.text
    assert re.search(r'class="count-created">2<', part.text)


def test_an_interrupted_job_can_be_resumed_from_the_page(client, app, world, login, db, vault):
    csrf = login(client, "officer_a")
    data, _ = penalty_csv(2, bad=0, prefix="R")
    actor = Actor(type="user", id=str(world.users["officer"].id), label="officer_a", department_id=world.dept_a.id)
    with db.session() as s:
        job_id = imports_service.create_job(s, vault=vault, department=DepartmentRef(world.dept_a.id, "scjgj"),
                                            item_code="admin_penalty", filename="r.csv", data=data, actor=actor).id
        s.execute(update(ImportJob).where(ImportJob.id == job_id)
                  .values(heartbeat_at=utcnow() - timedelta(minutes=10)))
    page = client.get(f"{JOBS}/{job_id}")
    assert "已中断" in page.text and f'action="{JOBS}/{job_id}/resume"' in page.text
    assert client.post(f"{JOBS}/{job_id}/resume").status_code == 403  # no CSRF token
    r = client.post(f"{JOBS}/{job_id}/resume", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"{JOBS}/{job_id}"
    runner_of(app).wait()
    page = client.get(f"{JOBS}/{job_id}")
    assert "已完成" in page.text and re.search(r'class="count-created">2<', page.text)
    again = client.post(f"{JOBS}/{job_id}/resume", data={"csrf_token": csrf})
    assert again.status_code == 409 and "已完成" in again.text


@pytest.mark.parametrize(("data", "name", "item", "status", "message"), [
    (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "photo.png", "admin_penalty", 422, "只支持 CSV 或 XLSX 文件"),
    ("姓名,来源编号\r\n张三,1\r\n".encode(), "a.csv", "admin_penalty", 422, "missing_header"),
    (b"", "empty.csv", "admin_penalty", 422, ""),
    (b"a,b\r\n1,2\r\n", "a.csv", "no_such_item", 422, "目录中没有事项"),
])
def test_refused_uploads_are_explained_and_leave_no_job(client, world, login, db, data, name, item, status, message):
    csrf = login(client, "officer_a")
    r = _upload(client, csrf, data, item=item, name=name)
    assert r.status_code == status, r.text
    assert "未能保存" in r.text and message in r.text and 'aria-invalid="true"' in r.text
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ImportJob)) == 0
    assert len(audit(db, "imports.create", outcome="denied")) == 1


def test_upload_needs_a_file_and_the_csrf_token(client, world, login, db):
    csrf = login(client, "officer_a")
    r = client.post(UPLOAD, data={"csrf_token": csrf, "item": "admin_penalty"})
    assert r.status_code == 422 and "请选择要上传的文件" in r.text
    data, _ = penalty_csv(1, bad=0)
    r = client.post(UPLOAD, data={"item": "admin_penalty"}, files={"file": ("a.csv", data, "text/csv")})
    assert r.status_code == 403 and "CSRF" in r.text
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ImportJob)) == 0


def test_an_upload_without_a_department_is_refused_and_audited(client, world, login, db):
    """The admin has the upload permission but no department: the page's POST is refused (403, no
    job) and the refusal audited, as ``POST /api/v1/imports`` audits it."""
    csrf = login(client, "admin")
    data, _ = penalty_csv(1, bad=0)
    assert _upload(client, csrf, data).status_code == 403
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ImportJob)) == 0
    assert [(e.outcome, e.details) for e in audit(db, "auth.forbidden", actor_label="admin")] == [
        ("denied", {"permission": "imports.use", "reason": "department_required"})]


def test_jobs_are_the_departments_own(client, app, world, login, db, vault):
    data, _ = penalty_csv(1, bad=0, prefix="S")
    with db.session() as s:
        job_id = imports_service.create_job(s, vault=vault, department=DepartmentRef(world.dept_a.id, "scjgj"),
                                            item_code="admin_penalty", filename="s.csv", data=data,
                                            actor=SYSTEM).id
    csrf = login(client, "officer_b")
    assert client.get(f"{JOBS}/{job_id}").status_code == 404
    assert client.post(f"{JOBS}/{job_id}/resume", data={"csrf_token": csrf}).status_code == 404
    assert [(e.action, e.object_id, e.details) for e in audit(db, "imports.read", outcome="denied")
            + audit(db, "imports.resume", outcome="denied")] == [
        ("imports.read", str(job_id), {"reason": "not_found"}), ("imports.resume", str(job_id), {"reason": "not_found"})]
    assert f"{JOBS}/{job_id}" not in client.get(JOBS).text
    client.cookies.clear()
    login(client, "admin")  # the credit office sees every department's jobs, and has no upload form
    listing = client.get(JOBS)
    assert f'href="{JOBS}/{job_id}"' in listing.text
    assert "<td>区市场监管局 <code>scjgj</code></td>" in listing.text  # the department by name (it was the code)
    assert client.get(f"{JOBS}/{job_id}").status_code == 200
    upload_page = client.get(UPLOAD)
    assert upload_page.status_code == 200 and "尚未关联部门" in upload_page.text and "<form" not in upload_page.text.split("<main")[1]
    client.cookies.clear()
    login(client, "bank")
    assert client.get(JOBS).status_code == 403 and client.get(UPLOAD).status_code == 403


def test_a_file_without_its_header_row_does_not_echo_the_id_number(client, world, login, db):
    """A file saved without its header row (a common slip) has a person's row where the header should be:
    the refusal says row 1 is not a header and names its cells, the ID number masked (never in an error message)."""
    data, people = penalty_csv(2, bad=0)
    headerless = data.decode("utf-8-sig").split("\r\n", 1)[1].encode("utf-8")
    csrf = login(client, "officer_a")
    r = _upload(client, csrf, headerless)
    assert r.status_code == 422 and "第1行不是表头" in r.text
    assert people[0] not in r.text and people[0][:6] + "********" + people[0][14:] in r.text


def test_a_workbook_sheet_named_by_an_id_number_is_not_echoed(client, world, login, db):
    """A first sheet left empty and the data on sheets named by people's ID numbers (one sheet a
    person): the refusal names the other sheets, each ID number masked (never in an error message)."""
    from openpyxl import Workbook

    person = new_id_number()
    wb = Workbook()
    wb.active.title = "封面"
    sheet = wb.create_sheet(person)
    sheet.append(HEADER)
    buf = io.BytesIO()
    wb.save(buf)
    csrf = login(client, "officer_a")
    r = _upload(client, csrf, buf.getvalue(), name="处罚.xlsx")
    assert r.status_code == 422 and "empty_file" in r.text
    assert person not in r.text and person[:6] + "********" + person[14:] in r.text


def test_a_job_page_names_the_department_in_the_page_s_language(client, app, world, login, db):
    """The job page named the department by its Chinese name on an English page, while the upload page and
    the list of jobs use its English name."""
    from xinyong.auth.models import Department

    with db.session() as s:
        s.execute(update(Department).where(Department.id == world.dept_a.id)
                  .values(name_en="District Market Regulation Bureau"))
    csrf = login(client, "officer_a")
    r = _upload(client, csrf, penalty_csv(2, bad=0)[0])
    runner_of(app).wait()
    client.cookies.set("lang", "en")
    page = client.get(r.headers["location"]).text
    assert "District Market Regulation Bureau" in page


@pytest.mark.parametrize(("lang", "name"), [("zh", "行政处罚信息"), ("en", "Administrative penalty")])
def test_the_job_page_names_its_item_and_reloads_itself_without_javascript(client, world, login, db, vault,
                                                                           lang, name):
    """The job's page names the item (it showed ``admin_penalty`` alone, where the jobs list names
    it); and without JavaScript, where HTMX cannot poll, the page of a running job reloads itself
    (a ``<noscript>`` refresh), as its "refreshes" line promises. An ended job's page does not."""
    login(client, "officer_a")
    client.cookies.set("lang", lang)
    data, _ = penalty_csv(2, bad=0, prefix="N")
    actor = Actor(type="user", id=str(world.users["officer"].id), label="officer_a", department_id=world.dept_a.id)
    with db.session() as s:
        job_id = imports_service.create_job(s, vault=vault, department=DepartmentRef(world.dept_a.id, "scjgj"),
                                            item_code="admin_penalty", filename="n.csv", data=data, actor=actor).id
    page = client.get(f"{JOBS}/{job_id}").text
    assert f"<dd>{name} <code>admin_penalty</code></dd>" in page
    head = page.split("</head>", 1)[0]
    assert (f'<noscript><meta http-equiv="refresh" content="5; url=/workspace/imports/{job_id}?autorefresh=1">'
            '</noscript>') in head
    run_job(db, vault, job_id)
    assert "http-equiv" not in client.get(f"{JOBS}/{job_id}").text
