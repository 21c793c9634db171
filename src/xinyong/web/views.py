"""Web shell (placeholder being replaced by the full implementation)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

STATIC_DIR = Path(__file__).parent / "static"
router = APIRouter(include_in_schema=False)


def render_error_page(request: Request, status: int, errors: list[dict[str, Any]] | None = None,
                      message: str | None = None) -> HTMLResponse:
    return HTMLResponse(f"<h1>{status}</h1>", status_code=status)
