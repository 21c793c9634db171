"""Bulk-file import jobs: the job with its progress and counts, the uploaded file (encrypted, kept
only until the job ends) and the rejected rows of its report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.db import Base, BigId, UTCDateTime, utcnow

JOB_STATUSES = ("pending", "running", "done", "failed", "interrupted")


class ImportJob(Base):
    """One uploaded file being imported. ``rows_done`` and the counts advance in the same transaction
    as each chunk's records, so they always describe exactly what is committed."""

    __tablename__ = "import_jobs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), nullable=False)
    item_code: Mapped[str] = mapped_column(String(64), nullable=False)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)  # sanitised: no path, no control chars
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    format: Mapped[str] = mapped_column(String(8), nullable=False)  # csv | xlsx
    encoding: Mapped[str | None] = mapped_column(String(16))  # utf-8 | utf-8-sig | gb18030 | gbk (CSV only)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    rows_total: Mapped[int | None] = mapped_column(Integer)  # known once the runner has read the file
    rows_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    updated: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rejected: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error_code: Mapped[str | None] = mapped_column(String(32))  # file-level error (status failed/interrupted)
    error_message: Mapped[str | None] = mapped_column(Text)
    # what the file held that was not imported, known at the upload: [{"code": "ignored_columns", "message",
    # "columns": [headers as written]}] (columns accepted and ignored: 序号, 备注 …); None: nothing to say
    notes: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    actor_type: Mapped[str] = mapped_column(String(16), nullable=False)  # who the records are pushed as
    actor_id: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str | None] = mapped_column(String(128))  # the actor's label
    runner: Mapped[str | None] = mapped_column(String(32))  # token of the process holding the job
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_import_jobs_dept", "department_id", "id"),
        Index("ix_import_jobs_status", "status", "heartbeat_at"),
    )


class ImportFile(Base):
    """The uploaded bytes, AES-GCM sealed by the vault (they hold raw ID numbers), so that a job can be
    resumed from the database alone. Deleted when the job is done or has failed, or has been left
    unfinished for 30 days (``service.expire_uploads``, the daily upkeep)."""

    __tablename__ = "import_files"

    job_id: Mapped[int] = mapped_column(ForeignKey("import_jobs.id", ondelete="CASCADE"), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), nullable=False)
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class ImportRowError(Base):
    """One error of a rejected row. ``row_number`` is the spreadsheet's own row number: the header is
    row 1, the first data row is row 2 (for CSV: the record's position, counting the header)."""

    __tablename__ = "import_row_errors"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("import_jobs.id", ondelete="CASCADE"), nullable=False)
    row_number: Mapped[int] = mapped_column(Integer, nullable=False)
    header: Mapped[str | None] = mapped_column(String(128))  # the column header as written in the file
    field: Mapped[str] = mapped_column(String(64), nullable=False)  # as the records API names it
    code: Mapped[str] = mapped_column(String(32), nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False)

    __table_args__ = (Index("ix_import_row_errors_job", "job_id", "row_number"),)
