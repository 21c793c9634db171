"""The workspace check form, batch upload with progress and download; the admin's measures editor
and feedback statistics."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from tests.measures.measures_support import subject_with_status
from tests.support import login, new_id_number

from xinyong.audit.models import AuditEntry
from xinyong.measures.models import Check, Measure, MeasureChange


def test_check_form_answers_in_place_and_registers(client, world, db, vault):  # type: ignore[no-untyped-def]
    with db.session() as s:
        number, _ = subject_with_status(s, vault, grade="D", lists=["serious_dishonesty"])
    csrf = login(client, "officer_a")
    page = client.get("/workspace/checks")
    assert page.status_code == 200 and "联合奖惩核查" in page.text
    assert 'href="/workspace/checks"' in client.get("/").text
    r = client.post("/workspace/checks", data={"id_number": number, "scenario": "civil_service_hiring",
                                               "csrf_token": csrf})
    assert r.status_code == 200
    assert "restrict_civil_service_hiring" in r.text and number not in r.text
    assert number[:6] + "********" + number[-4:] in r.text
    bad = client.post("/workspace/checks", data={"id_number": "123", "scenario": "awards", "csrf_token": csrf})
    assert bad.status_code == 422 and "id_length" in bad.text
    with db.session() as s:
        assert [c.channel for c in s.scalars(select(Check).order_by(Check.id))] == ["page", "page"]


def test_batch_upload_progress_and_download(client, world, db, vault):  # type: ignore[no-untyped-def]
    csrf = login(client, "officer_a")
    content = f"身份证号码\n{new_id_number()}\nbad\n".encode()
    r = client.post("/workspace/checks/batch", data={"scenario": "awards", "csrf_token": csrf},
                    files={"file": ("名单.csv", content, "text/csv")}, follow_redirects=False)
    assert r.status_code == 303
    client.app.state.compare_runner.wait()
    page = client.get(r.headers["location"])
    assert page.status_code == 200 and 'id="download"' in page.text
    assert '<span class="badge job-done">已完成</span>' in page.text  # a label, not the status code
    listing = client.get("/workspace/checks").text
    assert "已完成" in listing and "评优评先 <code>awards</code>" in listing  # the job's status and scenario named
    part = client.get(r.headers["location"], headers={"HX-Request": "true"})
    assert part.text.lstrip().startswith("{#") is False and "job-state" in part.text and "hx-trigger" not in part.text
    job_id = int(r.headers["location"].rsplit("/", 1)[1])
    dl = client.get(f"/api/v1/checks/batch/{job_id}/result.csv")
    assert dl.status_code == 200 and "id_length" in dl.content.decode("utf-8-sig")
    refused = client.post("/workspace/checks/batch", data={"scenario": "nope", "csrf_token": csrf},
                          files={"file": ("a.csv", content, "text/csv")})
    assert refused.status_code == 422 and "unknown scenario" in refused.text
    login(client, "officer_b")
    assert client.get(r.headers["location"]).status_code == 404


def test_the_admin_s_check_from_the_page_is_refused_and_audited(client, world, db):  # type: ignore[no-untyped-def]
    """The admin has no department: the page offers no form, and a check or an upload posted anyway
    is refused (403) and audited like the check API's refusal (every call leaves a trace)."""
    csrf = login(client, "admin")
    page = client.get("/workspace/checks")
    assert page.status_code == 200 and 'name="id_number"' not in page.text and 'name="file"' not in page.text
    r = client.post("/workspace/checks", data={"id_number": new_id_number(), "scenario": "awards", "csrf_token": csrf})
    assert r.status_code == 403
    up = client.post("/workspace/checks/batch", data={"scenario": "awards", "csrf_token": csrf},
                     files={"file": ("a.csv", f"身份证号码\n{new_id_number()}\n".encode(), "text/csv")})
    assert up.status_code == 403
    with db.session() as s:
        refusals = [e.details for e in s.scalars(select(AuditEntry).where(AuditEntry.action == "auth.forbidden",
                                                                          AuditEntry.outcome == "denied"))]
        assert [(d["reason"], d["what"]) for d in refusals if d.get("permission") == "checks.run"] == [
            ("department_required", "check"), ("department_required", "batch")]
        assert s.scalar(select(Check.id).limit(1)) is None


def test_admin_edits_a_measure_with_a_version_and_the_check_follows(client, world, db):  # type: ignore[no-untyped-def]
    csrf = login(client, "admin")
    page = client.get("/admin/measures")
    assert page.status_code == 200 and "restrict_awards" in page.text and 'id="defaults-note"' in page.text
    edit = client.get("/admin/measures/measure/restrict_awards")
    assert edit.status_code == 200
    form = {"code": "restrict_awards", "name_zh": "取消评优评先资格", "name_en": "Excluded from awards",
            "kind": "punishment", "applies_to": ["serious_dishonesty", "dishonest_debtor", "key_supervision"],
            "scenarios": ["awards"], "department": "区委宣传部", "basis": "国发〔2016〕33号", "active": "on",
            "reason": "扩大到重点监管对象", "csrf_token": csrf}
    assert 'action="/admin/measures/measure/restrict_awards"' in edit.text  # the edit form posts to its code
    taken = client.post("/admin/measures/measure/new", data=form, follow_redirects=False)
    assert taken.status_code == 422 and "已存在" in taken.text  # "new" never overwrites an existing code
    assert 'aria-invalid="true"' in taken.text and 'name="code"' in taken.text
    r = client.post("/admin/measures/measure/restrict_awards", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    with db.session() as s:
        m = s.scalar(select(Measure).where(Measure.code == "restrict_awards"))
        assert m is not None and m.version == 2 and "key_supervision" in m.applies_to
        versions = [c.version for c in s.scalars(select(MeasureChange).where(MeasureChange.code == "restrict_awards"))]
        assert sorted(versions) == [1, 2]
        saved = s.scalar(select(AuditEntry).where(AuditEntry.action == "measures.measure_save",
                                                  AuditEntry.object_id == "restrict_awards")
                         .order_by(AuditEntry.id.desc()))
        assert saved is not None and saved.details["version"] == 2 and saved.details["reason"] == "扩大到重点监管对象"
        assert saved.actor_type == "user"
    bad = client.post("/admin/measures/measure/restrict_awards", data={**form, "applies_to": ["nobody"],
                                                                        "scenarios": ["mars"]})
    assert bad.status_code == 422 and "未知的适用对象 nobody" in bad.text and "未知场景 mars" in bad.text
    api = client.get("/api/v1/measures?scenario=awards").json()
    assert next(x for x in api if x["code"] == "restrict_awards")["version"] == 2
    hist = client.get("/api/v1/measures/restrict_awards/history").json()
    assert [h["version"] for h in hist] == [2, 1] and hist[0]["reason"] == "扩大到重点监管对象"


def test_a_refused_edit_stays_the_edit_form_with_what_was_typed(client, world, db):  # type: ignore[no-untyped-def]
    csrf = login(client, "admin")
    form = {"name_zh": "绿色通道", "name_en": "", "kind": "incentive", "applies_to": ["red_volunteer"], "scenarios": [],
            "department": "区政务服务办", "basis": "依据", "active": "on", "reason": "试改", "csrf_token": csrf}
    r = client.post("/admin/measures/measure/green_channel", data=form)
    assert r.status_code == 422
    assert 'action="/admin/measures/measure/green_channel"' in r.text and 'name="code"' not in r.text
    assert 'value="试改"' in r.text
    assert 'aria-invalid="true"' in r.text  # the fields named in the errors are marked
    with db.session() as s:
        assert s.scalar(select(Measure.version).where(Measure.code == "green_channel")) in (None, 1)


def test_admin_api_edits_and_scenarios(client, world, db, vault):  # type: ignore[no-untyped-def]
    with db.session() as s:
        number, _ = subject_with_status(s, vault, grade="C", lists=["key_supervision"])
    login(client, "admin")
    csrf = client.get("/api/v1/session").json()["csrf_token"]
    h = {"X-CSRF-Token": csrf}
    r = client.put("/api/v1/scenarios/housing_allocation", json={"name_zh": "公租房分配", "name_en": "Public housing"},
                   headers=h)
    assert r.status_code == 200 and r.json()["version"] == 1
    body = {"name_zh": "限制公租房", "name_en": "No public housing", "kind": "punishment",
            "applies_to": ["key_supervision"], "scenarios": ["housing_allocation"], "department": "区住建委",
            "basis": "《公共租赁住房管理办法》"}
    assert client.put("/api/v1/measures/no_public_housing", json=body, headers=h).status_code == 200
    assert client.put("/api/v1/measures/x_bad", json={**body, "kind": "reward"}, headers=h).status_code == 422
    codes = {s["code"] for s in client.get("/api/v1/scenarios").json()}
    assert "housing_allocation" in codes
    renamed = client.put("/api/v1/scenarios/housing_allocation",
                         json={"name_zh": "公共租赁住房分配", "name_en": "Public housing", "reason": "改名"}, headers=h)
    assert renamed.status_code == 200 and renamed.json()["version"] == 2
    hist = client.get("/api/v1/scenarios/housing_allocation/history").json()
    assert [(x["version"], x["data"]["name_zh"]) for x in hist] == [(2, "公共租赁住房分配"), (1, "公租房分配")]
    assert hist[0]["reason"] == "改名"
    for path in ("/api/v1/scenarios/nope_nope/history", "/api/v1/measures/nope_nope/history"):
        missing = client.get(path)
        assert missing.status_code == 404 and missing.json()["code"] in ("unknown_scenario", "unknown_measure")
    kinds = {m["kind"] for m in client.get("/api/v1/measures?kind=punishment&scenario=housing_allocation").json()}
    assert kinds == {"punishment"}
    assert {m["kind"] for m in client.get("/api/v1/measures?kind=incentive").json()} == {"incentive"}
    bad_kind = client.get("/api/v1/measures?kind=reward")
    assert bad_kind.status_code == 422 and bad_kind.json()["errors"][0]["field"] == "kind"
    a = client.post("/api/v1/checks", json={"id_number": number, "scenario": "housing_allocation"},
                    headers=world.bearer(world.key_a)).json()
    assert [m["code"] for m in a["measures"]] == ["no_public_housing"]
    assert client.put("/api/v1/measures/no_public_housing", json=body,
                      headers=world.bearer(world.key_a)).status_code == 403
    # what GET answers goes back as it is (its code and version too), changed where wanted
    [got] = [m for m in client.get("/api/v1/measures?scenario=housing_allocation").json()
             if m["code"] == "no_public_housing"]
    r = client.put("/api/v1/measures/no_public_housing", json={**got, "basis": "《公共租赁住房管理办法》第十条"}, headers=h)
    assert r.status_code == 200 and r.json()["version"] == got["version"] + 1
    sc = next(x for x in client.get("/api/v1/scenarios").json() if x["code"] == "housing_allocation")
    assert client.put("/api/v1/scenarios/housing_allocation", json=sc, headers=h).json()["version"] == sc["version"]
    wrong = client.put("/api/v1/measures/no_public_housing", json={**got, "code": "restrict_awards"}, headers=h)
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "code"
    # a scenario that does not exist is named as such, with the valid ones (not an empty list)
    bogus = client.get("/api/v1/measures?scenario=fishing_licence")
    assert bogus.status_code == 422 and bogus.json()["code"] == "unknown_scenario"
    assert "housing_allocation" in bogus.json()["errors"][0]["valid"]


def test_feedback_page(client, world, db, vault):  # type: ignore[no-untyped-def]
    with db.session() as s:
        number, _ = subject_with_status(s, vault, grade="D", lists=["dishonest_debtor"])
    client.post("/api/v1/checks", json={"id_number": number, "scenario": "public_services"},
                headers=world.bearer(world.key_a))
    login(client, "auditor")
    r = client.get("/admin/checks/feedback")
    assert r.status_code == 200 and 'id="feedback-stats"' in r.text
    assert "限制高消费" in r.text or "restrict_high_consumption" in r.text
    client.cookies.set("lang", "en")
    en = client.get("/admin/checks/feedback").text
    row = re.search(r"<tr><td>[^<]*<code>scjgj</code></td><td>([^<]*)<code>restrict_high_consumption</code>", en)
    assert row is not None and row.group(1).strip() and not re.search(r"[\u4e00-\u9fff]", row.group(1)), en[-2000:]
    client.cookies.set("lang", "zh")
    assert re.search(r'href="/admin/checks/feedback"', client.get("/").text)
    login(client, "officer_a")
    assert client.get("/admin/checks/feedback").status_code == 403


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_pages_obey_the_shell(client, world, lang):  # type: ignore[no-untyped-def]
    inline = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=", re.I)
    for user, paths in (("officer_a", ["/workspace/checks"]),
                        ("admin", ["/admin/measures", "/admin/measures/measure/green_channel",
                                   "/admin/measures/scenario/awards", "/admin/measures/measure/new",
                                   "/admin/checks/feedback"])):
        csrf = login(client, user)
        client.cookies.set("lang", lang)
        for path in paths:
            r = client.get(path)
            assert r.status_code == 200, path
            assert r.headers["cache-control"] == "no-store" and not inline.search(r.text), path
            assert f'<meta name="csrf-token" content="{csrf}">' in r.text
            visible = re.sub(r"<[^>]+>", " ", r.text.split("<main", 1)[1])
            assert not re.findall(r"\b(?:checks|measures|feedback|nav)\.[a-z_.]+\b", visible), path


def test_pages_name_departments_in_the_page_s_language(client, world, db):  # type: ignore[no-untyped-def]
    from sqlalchemy import update

    from xinyong.auth.models import Department

    with db.session() as s:
        s.execute(update(Department).where(Department.id == world.dept_a.id)
                  .values(name_en="District Market Regulation Bureau"))
    login(client, "officer_a")
    for path in ("/workspace/checks", "/workspace/upload", "/workspace/imports", "/workspace/records",
                 "/workspace/apikeys"):
        client.cookies.set("lang", "en")
        assert "District Market Regulation Bureau" in client.get(path).text, path
        client.cookies.set("lang", "zh")
        page = client.get(path).text
        assert "区市场监管局" in page and "District Market Regulation Bureau" not in page, path


def test_an_interrupted_batch_is_run_again_from_its_page(client, world, db, vault):  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from sqlalchemy import update
    from tests.support import SYSTEM

    from xinyong.db import utcnow
    from xinyong.measures import batch, service
    from xinyong.measures.models import CompareJob

    with db.session() as s:
        job_id = batch.create_job(s, vault=vault, caller=service.Caller(world.dept_a.id, world.dept_a.code, SYSTEM),
                                  scenario="awards", filename="x.csv", data=f"{new_id_number()}\n".encode()).id
        s.execute(update(CompareJob).where(CompareJob.id == job_id).values(
            status="running", runner="dead", heartbeat_at=utcnow() - timedelta(minutes=5)))
    csrf = login(client, "officer_b")  # another department: not its job
    assert client.post(f"/workspace/checks/batch/{job_id}/resume", data={"csrf_token": csrf}).status_code == 404
    csrf = login(client, "officer_a")
    page = client.get(f"/workspace/checks/batch/{job_id}").text
    assert "已中断" in page and f'action="/workspace/checks/batch/{job_id}/resume"' in page
    r = client.post(f"/workspace/checks/batch/{job_id}/resume", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    client.app.state.compare_runner.wait()
    done = client.get(f"/workspace/checks/batch/{job_id}").text
    assert 'id="download"' in done and 'id="resume"' not in done
    with db.session() as s:
        assert s.scalar(select(AuditEntry.id).where(AuditEntry.action == "checks.batch_resume")) is not None


def test_one_measure_and_one_scenario_by_code(client, world):  # type: ignore[no-untyped-def]
    """``GET /api/v1/measures/{code}`` and ``GET /api/v1/scenarios/{code}`` answer one definition as the
    list shows it (a department's system need not fetch the whole list to show one measure); an
    unknown code is 404 with ``unknown_measure`` / ``unknown_scenario``."""
    h = world.bearer(world.key_a)
    listed = {m["code"]: m for m in client.get("/api/v1/measures", headers=h).json()}
    one = client.get("/api/v1/measures/restrict_awards", headers=h)
    assert one.status_code == 200 and one.json() == listed["restrict_awards"]
    scen = {s["code"]: s for s in client.get("/api/v1/scenarios", headers=h).json()}
    assert client.get("/api/v1/scenarios/awards", headers=h).json() == scen["awards"]
    for path, code in (("/api/v1/measures/nope_nope", "unknown_measure"), ("/api/v1/scenarios/nope_nope",
                                                                          "unknown_scenario")):
        missing = client.get(path, headers=h)
        assert missing.status_code == 404 and missing.json()["code"] == code
    assert client.get("/api/v1/measures/restrict_awards").status_code == 401


def test_a_refused_save_on_the_page_is_registered(client, world, db):  # type: ignore[no-untyped-def]
    """The page's refusals are registered as the API's are: a new code that exists (``denied``, a
    conflict) and a definition the rules refuse (``failed``), under the save's action, via page."""
    csrf = login(client, "admin")
    form = {"code": "restrict_awards", "name_zh": "取消评优评先资格", "name_en": "Excluded from awards",
            "kind": "punishment", "applies_to": ["serious_dishonesty"], "scenarios": ["awards"],
            "department": "区委宣传部", "basis": "国发〔2016〕33号", "active": "on", "reason": "", "csrf_token": csrf}
    assert client.post("/admin/measures/measure/new", data=form).status_code == 422
    assert client.post("/admin/measures/measure/restrict_awards", data={**form, "scenarios": ["mars"]}).status_code == 422
    assert client.post("/admin/measures/measure/new", data={**form, "code": "Not A Code!", "kind": "x"}).status_code == 422
    with db.session() as s:
        got = [(e.outcome, e.object_id, e.details["code"], e.details["via"]) for e in s.scalars(
            select(AuditEntry).where(AuditEntry.action == "measures.measure_save").order_by(AuditEntry.id))]
    assert got == [("denied", "restrict_awards", "code_exists", "page"), ("failed", "restrict_awards", "invalid_measure", "page"),
                   ("failed", None, "invalid_measure", "page")]


@pytest.mark.parametrize(("lang", "header", "name"), [("zh", "名称", "取消参加评优评先资格"),
                                                       ("en", "Name", "Excluded from awards and honours")])
def test_the_measures_table_heads_its_names_column_truly(client, world, lang, header, name):  # type: ignore[no-untyped-def]
    """The column shows each measure's name in the page's language; in English it was headed
    "Chinese name" over the English names."""
    login(client, "admin")
    client.cookies.set("lang", lang)
    table = re.search(r'<table class="striped" id="measures">(.*?)</table>', client.get("/admin/measures").text,
                      re.S).group(1)
    heads = re.findall(r"<th[^>]*>([^<]*)</th>", table)
    row = re.search(r'<tr id="measure-restrict_awards">(.*?)</tr>', table, re.S).group(1)
    cells = [c.strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    assert heads[1] == header and cells[1] == name


@pytest.mark.parametrize(("lang", "name"), [("zh", "评优评先"), ("en", "Awards and honours")])
def test_a_batch_job_s_page_names_its_scenario_and_reloads_itself_without_javascript(client, world, db, vault,
                                                                                     lang, name):
    """The comparison job's page names its scenario (it showed ``awards`` alone); without JavaScript
    a running job's page reloads itself (a ``<noscript>`` refresh) as its "refreshes" line promises."""
    from xinyong.audit.service import Actor
    from xinyong.measures import batch
    from xinyong.measures.service import Caller

    login(client, "officer_a")
    client.cookies.set("lang", lang)
    actor = Actor(type="user", id=str(world.users["officer"].id), label="officer_a", department_id=world.dept_a.id)
    with db.session() as s:
        job_id = batch.create_job(s, vault=vault, caller=Caller(world.dept_a.id, "scjgj", actor), scenario="awards",
                                  filename="n.csv", data=f"身份证号码\n{new_id_number()}\n".encode()).id
    page = client.get(f"/workspace/checks/batch/{job_id}").text
    assert f"{name} <code>awards</code>" in page
    assert (f'<noscript><meta http-equiv="refresh" content="5; url=/workspace/checks/batch/{job_id}?autorefresh=1">'
            '</noscript>') in page.split("</head>", 1)[0]


def test_english_pages_name_a_measure_s_department_in_english(client, world, db, vault):  # type: ignore[no-untyped-def]
    """A measure names its implementing department in Chinese (free text, 区委组织部); the English
    check answer and measures list showed it so. They now give the English name of the department
    of that name where the platform has one (and the text as written where it has none)."""
    from tests.support import SYSTEM

    from xinyong.auth import service as auth_service

    with db.session() as s:
        auth_service.add_department(s, code="zzb", name="区委组织部", name_en="Organisation Department of the "
                                    "District Committee", actor=SYSTEM)
        number, _ = subject_with_status(s, vault, grade="D", lists=["serious_dishonesty"])
    csrf = login(client, "officer_a")
    client.cookies.set("lang", "en")
    answer = client.post("/workspace/checks", data={"id_number": number, "scenario": "civil_service_hiring",
                                                    "csrf_token": csrf}).text
    row = re.search(r"<tr>(?:(?!</tr>).)*restrict_civil_service_hiring(?:(?!</tr>).)*</tr>", answer, re.S).group(0)
    assert "Organisation Department of the District Committee" in row and "区委组织部" not in row
    login(client, "admin")
    client.cookies.set("lang", "en")
    listing = client.get("/admin/measures").text
    row = re.search(r'<tr id="measure-restrict_civil_service_hiring">(.*?)</tr>', listing, re.S).group(1)
    assert "Organisation Department of the District Committee" in row and "区委组织部" not in row
    client.cookies.set("lang", "zh")
    assert "<td>区委组织部</td>" in client.get("/admin/measures").text


@pytest.mark.parametrize(("lang", "applies", "scenario", "new_scenario"), [
    ("zh", ["严重失信主体名单", "重点监管名单", "失信被执行人名单"], "评优评先", "新增场景"),
    ("en", ["Serious dishonesty list", "Key supervision list", "Dishonest judgment debtors"], "Awards and honours", "New scenario"),
])
def test_the_measures_console_names_lists_grades_and_scenarios(client, world, db, lang, applies, scenario,  # type: ignore[no-untyped-def]
                                                               new_scenario):
    """The measures list named what a measure applies to and its scenarios by code (serious_dishonesty,
    grade:D, awards); the edit form's boxes too, and its heading gave the code alone. They now give
    the names in the page's language (the form keeps the code beside each, as the API and YAML take
    it). A new scenario's page was headed "new measure"; its history's last two columns had no header."""
    from tests.support import SYSTEM

    from xinyong.measures import service

    with db.session() as s:
        service.load_default(s, actor=SYSTEM)
    login(client, "admin")
    client.cookies.set("lang", lang)
    listing = client.get("/admin/measures").text
    row = re.search(r'<tr id="measure-restrict_awards">(.*?)</tr>', listing, re.S).group(1)
    cells = {c: re.findall(r"<li>([^<]*)</li>", v) for c, v in re.findall(r'<td class="([\w-]+)">(.*?)</td>', row, re.S)}
    assert cells["applies-to"] == applies and cells["scenarios"] == [scenario], cells
    row = re.search(r'<tr id="measure-stricter_supervision">(.*?)</tr>', listing, re.S).group(1)
    assert ("信用等级 D" if lang == "zh" else "Grade D") in row and "grade:D" not in row
    form = client.get("/admin/measures/measure/restrict_awards").text
    heading = re.sub(r"<[^>]+>", "", re.search(r"<h1>(.*?)</h1>", form, re.S).group(1))
    assert ("取消参加评优评先资格" if lang == "zh" else "Excluded from awards and honours") in heading
    assert re.search(rf'value="serious_dishonesty" checked> {applies[0]} <code>serious_dishonesty</code>', form)
    assert re.search(rf'value="awards" checked> {scenario} <code>awards</code>', form)
    history = re.search(r'<table class="striped" id="history">.*?</thead>', form, re.S).group(0)
    assert "<th></th>" not in history
    new = client.get("/admin/measures/scenario/new").text
    assert re.sub(r"<[^>]+>", "", re.search(r"<h1>(.*?)</h1>", new, re.S).group(1)).strip() == new_scenario
