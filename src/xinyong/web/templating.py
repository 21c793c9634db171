"""Jinja2 rendering for every page.

Templates are found in ``web/templates/`` and, for each domain, in ``<domain>/templates/`` under
the domain's name as prefix (``records/list.html`` is ``src/xinyong/records/templates/list.html``).

:func:`render` injects what the layout needs: ``t`` (translation), ``lang``, ``principal``,
``csrf_token``, ``request_id``, ``nav`` and the language-switch links. Autoescaping is on for
every template.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader, StrictUndefined, pass_context

from xinyong.auth.service import Principal
from xinyong.context import request_id_var
from xinyong.privacy.masking import page_without_id_numbers
from xinyong.web.i18n import LANGS, lang_of, translate, translator
from xinyong.web.nav import nav_items

WEB_DIR = Path(__file__).parent
TEMPLATE_DIR = WEB_DIR / "templates"
PACKAGE_DIR = WEB_DIR.parent


def _domain_loaders() -> dict[str, FileSystemLoader]:
    return {p.parent.name: FileSystemLoader(str(p)) for p in sorted(PACKAGE_DIR.glob("*/templates"))
            if p.is_dir() and p.parent.name != "web"}


@pass_context
def _localtime(context: Any, value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC datetime shown in the district's time zone."""
    if value is None:
        return ""
    request: Request = context["request"]
    return value.astimezone(request.app.state.settings.tz).strftime(fmt)


@pass_context
def _dept_name(context: Any, dept: Any) -> str:
    """A department's name in the page's language (its English name when it has one)."""
    if dept is None:
        return ""
    return dept.name if context.get("lang") == "zh" or not getattr(dept, "name_en", None) else dept.name_en


def percent(ratio: float | None) -> str:
    """A share (0–1) as every page writes one: one decimal and the sign (``87.3%``; ``—`` for none).
    Rounding never makes a part read as all or nothing: above 0 but under 0.05% is ``<0.1%``, under
    100% but over 99.95% is ``>99.9%`` (one late record in 3,000 is not ``100.0%`` on time)."""
    if ratio is None:
        return "—"
    value = 100 * ratio
    if 0 < value < 0.05:
        return "<0.1%"
    if 99.95 <= value < 100:
        return ">99.9%"
    return f"{value:.1f}%"


def _make_env() -> Environment:
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(str(TEMPLATE_DIR)), PrefixLoader(_domain_loaders())]),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["localtime"] = _localtime
    env.filters["dept_name"] = _dept_name
    env.filters["percent"] = percent
    return env


ENV = _make_env()


def principal_of(request: Request) -> Principal | None:
    """The caller, if a dependency already resolved it on this request (never queries)."""
    return getattr(request.state, "principal", None)


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def lang_links(request: Request, lang: str) -> list[dict[str, Any]]:
    """The language switch's links, back to this page: its path and query, less anything of an ID
    number's shape (``privacy.masking.page_without_id_numbers``: a path holding one goes back home,
    a query parameter holding one is dropped), as the records pages drop such a filter value
    (``records.views._echo``)."""
    return _links(page_without_id_numbers(request.url.path, request.url.query), lang)


def _links(nxt: str, lang: str) -> list[dict[str, Any]]:
    return [{"lang": code, "href": "/lang?" + urlencode({"to": code, "next": nxt}), "current": code == lang}
            for code in LANGS]


def base_context(request: Request) -> dict[str, Any]:
    lang = lang_of(request)
    principal = principal_of(request)
    return {
        "request": request,
        "lang": lang,
        "t": translator(lang),
        "tr": translate,
        "principal": principal,
        "csrf_token": principal.csrf_token if principal is not None else None,
        "request_id": request_id_var.get() or "",
        "nav": nav_items(request, principal),
        "lang_links": lang_links(request, lang),
        "path": request.url.path,
    }


def render(request: Request, template_name: str, context: dict[str, Any] | None = None,
           status_code: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    ctx = base_context(request)
    ctx.update(context or {})
    html = ENV.get_template(template_name).render(ctx)
    return HTMLResponse(html, status_code=status_code, headers=headers)
