"""The holiday table's admin page (``/admin/calendar``): which years are covered and by what, the
days entered for a year, and entering a year's schedule as the State Council publishes it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from xinyong import clock, workdays
from xinyong.auth.deps import page_refusals, require
from xinyong.auth.service import Principal
from xinyong.deps import DbSession
from xinyong.holidays import service
from xinyong.web.i18n import MESSAGES
from xinyong.web.templating import render

router = APIRouter(include_in_schema=False)
PATH = "/admin/calendar"
CalendarAdmin = Annotated[Principal, Depends(require("calendar.manage"))]

MESSAGES.update({
    "nav.calendar": {"zh": "节假日安排", "en": "Holidays"},
    "home.calendar": {"zh": "录入国务院公布的节假日安排，用于计算工作日期限", "en": "Enter the official holiday "
                      "schedule that working-day deadlines are counted on"},
    "calendar.title": {"zh": "节假日安排", "en": "Holiday schedule"},
    "calendar.intro": {"zh": "工作日按国家法定节假日和调休安排计算。chinesecalendar 库已包含的年份自动适用；"
                       "之后的年份须在国务院办公厅公布安排后在此录入（整年导入，替换该年已录入的内容）。",
                       "en": "Working days follow the statutory holidays and the weekends worked in lieu. The years "
                       "the chinesecalendar library covers apply by themselves; a later year is entered here once "
                       "the State Council publishes it (a whole year at a time, replacing what that year had)."},
    "calendar.uncovered": {"zh": "{years} 年的节假日安排尚未录入：期限暂按周一至周五计算工作日。",
                           "en": "The holiday schedule of {years} is not entered: deadlines are counted Monday to "
                           "Friday until it is."},
    "calendar.year": {"zh": "年份", "en": "Year"},
    "calendar.source": {"zh": "来源", "en": "Source"},
    "calendar.library": {"zh": "chinesecalendar 库", "en": "chinesecalendar library"},
    "calendar.table": {"zh": "管理员录入", "en": "Entered here"},
    "calendar.missing": {"zh": "尚未录入（按周一至周五计算）", "en": "Not entered (counted Monday to Friday)"},
    "calendar.holidays": {"zh": "放假天数", "en": "Holidays"},
    "calendar.workdays": {"zh": "调休上班天数", "en": "Weekend days worked"},
    "calendar.days_of": {"zh": "{year} 年录入的日期", "en": "Days entered for {year}"},
    "calendar.none": {"zh": "该年没有录入的日期", "en": "No day entered for this year"},
    "calendar.day": {"zh": "日期", "en": "Day"},
    "calendar.kind": {"zh": "类型", "en": "Kind"},
    "calendar.name": {"zh": "名称", "en": "Name"},
    "calendar.kind.holiday": {"zh": "放假", "en": "Holiday"},
    "calendar.kind.workday": {"zh": "调休上班", "en": "Worked in lieu"},
    "calendar.import": {"zh": "导入安排", "en": "Enter a schedule"},
    "calendar.schedule": {"zh": "安排（每行：日期[..日期] holiday|workday [名称]；# 之后为注释）",
                          "en": "Schedule (a line: DATE[..DATE] holiday|workday [name]; # starts a comment)"},
    "calendar.note": {"zh": "依据（如国务院办公厅通知文号）", "en": "Basis (e.g. the State Council notice)"},
    "calendar.submit": {"zh": "导入并替换所列年份", "en": "Import, replacing the years it names"},
    "calendar.saved": {"zh": "已导入：{years}", "en": "Imported: {years}"},
})


def _page(request: Request, session: DbSession, *, year: int, schedule: str = "", note: str = "",
          errors: list[dict[str, str]] | None = None, saved: str = "", status_code: int = 200) -> HTMLResponse:
    today = clock.today()
    years = [c for c in service.coverage(session) if c["table"] or int(c["year"]) >= today.year - 1]  # type: ignore[call-overload]
    known = {c["year"] for c in years}
    years += [{"year": y, "library": False, "table": False, "holidays": 0, "workdays": 0}
              for y in workdays.uncovered_years(today) if y not in known]  # the years still to enter, said so
    years.sort(key=lambda c: c["year"])  # type: ignore[arg-type, return-value]
    return render(request, "holidays/calendar.html", {
        "years": years, "year": year, "days": service.days_of(session, year),
        "uncovered": workdays.uncovered_years(today), "schedule": schedule, "note": note,
        "errors": errors or [], "saved": saved,
    }, status_code=status_code)


@router.get(PATH, response_class=HTMLResponse)
def calendar_page(request: Request, principal: CalendarAdmin, session: DbSession,
                  year: Annotated[int | None, Query(ge=service.FIRST_YEAR, le=service.LAST_YEAR)] = None,
                  saved: Annotated[str, Query(max_length=500)] = "") -> HTMLResponse:
    today = clock.today()
    shown = year or (workdays.uncovered_years(today) or [today.year])[0]
    return _page(request, session, year=shown, saved=saved)


@router.post(PATH, response_model=None)
def calendar_import(request: Request, principal: CalendarAdmin, session: DbSession,
                    schedule: Annotated[str, Form(max_length=100_000)] = "",
                    note: Annotated[str, Form(max_length=200)] = "") -> Response:
    try:
        days = service.parse_schedule(schedule)
        out = service.import_schedule(session, days=days, actor=principal.actor, note=note)
    except service.HolidayError as exc:
        session.rollback()  # refused: nothing changed, and the attempt registered
        service.record_import_refusal(session, actor=principal.actor, error=exc)
        session.commit()
        return _page(request, session, year=clock.today().year, schedule=schedule, note=note,
                     errors=exc.api_errors(), status_code=422)
    session.commit()
    # this process counts with it at once (the other workers within a sealer round); open defence
    # periods it lengthens are extended
    service.apply(request.app.state.db, actor=principal.actor)
    years = [int(y) for y in out["years"]]  # type: ignore[attr-defined]
    listed = ",".join(map(str, years))
    return RedirectResponse(f"{PATH}?year={years[0]}&saved={listed}", status_code=303)


# a page request whose path, query or form field the schema refuses (FastAPI's 422, answered with the
# error page naming the field) is registered under the page's action, as the API's are
refused_bodies = page_refusals(router, {
    ("GET", PATH): "calendar.read",
    ("POST", PATH): "calendar.import",
})
