from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class CountsOut(BaseModel):
    created: int
    updated: int
    unchanged: int
    rejected: int


class FileErrorOut(BaseModel):
    code: str
    message: str


class RowErrorOut(BaseModel):
    row: int = Field(description="Spreadsheet row number (the header is row 1)")
    column: str | None
    field: str
    code: str
    message: str


class NoteOut(BaseModel):
    code: str = Field(description="ignored_columns (序号, 行号, 备注: neither imported nor stored) | hidden_columns "
                                  "(the item's columns the workbook hides: imported, their values unseen)")
    message: str
    columns: list[str] = Field(default_factory=list, description="the columns concerned, as written in the file")


class JobOut(BaseModel):
    id: int
    item: str
    filename: str
    sha256: str
    size: int
    format: str = Field(description="csv | xlsx")
    encoding: str | None = Field(description="CSV: utf-8 | utf-8-sig | gb18030 | gbk (Windows' GBK, with € as 0x80)")
    status: str = Field(description="pending | running | done | failed | interrupted")
    rows_total: int | None = Field(description="Data rows in the file; null until the file has been read")
    rows_done: int
    counts: CountsOut
    error: FileErrorOut | None = Field(
        description="File-level error (failed) or why the job stopped (interrupted)")
    first_errors: list[RowErrorOut] = Field(
        description="The first rejected rows (the full report is errors.csv)")
    ignored_columns: list[str] = Field(
        default_factory=list, description="Columns of the file accepted and ignored (序号, 行号, 备注): their "
                                          "content is neither imported nor stored")
    notes: list[NoteOut] = Field(default_factory=list, description="What the job says of its file besides its rows")
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    report_url: str
    resume_url: str


class JobListOut(BaseModel):
    items: list[JobOut]
    next_before_id: int | None


class ErrorDetailOut(BaseModel):
    field: str | None
    code: str
    message: str


class ApiErrorOut(BaseModel):
    """The standard error shape (xinyong.errors)."""

    code: str
    message: str
    request_id: str | None
    errors: list[ErrorDetailOut] = Field(default_factory=list, description="the fields concerned (empty when none)")


def error_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    text = {401: "Not authenticated", 403: "Not allowed", 404: "No such job (or not your department's)",
            409: "The job cannot be resumed in its present state",
            413: "File too large", 422: "File or form refused (code and details in the body)"}
    return {s: {"model": ApiErrorOut, "description": text.get(s, "Error")} for s in statuses}
