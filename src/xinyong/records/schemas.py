from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorOut(BaseModel):
    field: str
    code: str
    message: str
    reason: str | None = None


class ResultOut(BaseModel):
    index: int
    status: str = Field(description="created | updated | unchanged | rejected")
    record_id: int | None
    errors: list[ErrorOut]


class PushOut(BaseModel):
    results: list[ResultOut]


class PushIn(BaseModel):
    """1 to 1,000 records. Each record is checked on its own (see docs/integration.md)."""

    model_config = ConfigDict(extra="forbid")
    records: list[Any] = Field(description="Records: item, id_number, name, source_id, decided_at, severity, fields")


class RevisionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    revision: int
    kind: str
    item_version: int | None = None
    severity: str | None
    decided_at: date
    fields: dict[str, Any]
    status: str
    # whether this revision was published and the first day it was no longer shown (the record's
    # display dates as they stood: a recompute or an update moves them)
    publish: bool
    display_until: date
    reason: str | None
    created_at: datetime
    actor_label: str | None


class RecordOut(BaseModel):
    id: int
    item: str
    item_version: int
    department: str
    source_id: str
    subject_id: int
    id_number_masked: str
    name_masked: str
    category: str
    severity: str | None
    decided_at: date
    fields: dict[str, Any]
    revision: int
    status: str
    status_reason: str | None
    publish: bool
    min_display_until: date
    display_until: date
    retain_until: date | None
    received_at: datetime
    updated_at: datetime
    revisions: list[RevisionOut] = []


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=1000)
    act_ended_on: str | None = Field(
        default=None, max_length=32, examples=["2026-11-20"],
        description="Optional, YYYY-MM-DD: the end of the act (a dishonest debtor who performed), for an item whose "
                    "retention counts from it (catalog retention.from_field); not after today (before decided_at is allowed, as on a push). "
                    "Stored in the record's field with the revocation's revision; retain_until is computed again")


class RecomputeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item: str = Field(max_length=64)


class RecomputeOut(BaseModel):
    item: str
    changed: int


class RecordListOut(BaseModel):
    items: list[RecordOut]
    next_before_id: int | None


class QualityOut(BaseModel):
    department_id: int
    code: str
    name: str
    pushed: int
    by_item: dict[str, int]
    rejected: int = Field(description="Refusals of single records (API) or rows (files) in the period, every "
                          "resend of the same bad record included")
    rejected_by_reason: dict[str, int] = Field(description="Those refusals per error code, each under every code it "
                                               "had: a record refused for two errors counts under both, so these "
                                               "may sum to more than rejected")
    rejection_rate: float | None = Field(description="rejected ÷ (pushed + rejected)")
    rejected_distinct: int = Field(default=0, description="Records refused in the period, each once per (department, "
                                   "source_id) however often it was resent; a refusal without a readable source_id "
                                   "counts once each")
    rejected_distinct_by_reason: dict[str, int] = Field(
        default_factory=dict, description="Those records, each under one reason (the first error of its latest "
        "refusal in the period): these sum to rejected_distinct")
    rejection_rate_distinct: float | None = Field(default=None, description="rejected_distinct ÷ (pushed + "
                                                  "rejected_distinct): resends do not weigh")
    with_deadline: int = Field(description="Records of items with an arrival rule (licences, penalties: 7 working days)")
    late: int
    on_time_rate: float | None
    avg_delay_working_days: float | None
    max_delay_working_days: int | None
    batches_refused: int = Field(default=0, description="Batches refused whole over the API (empty, over 1,000 "
                                 "records, a body that is not a batch): none of their records counts in rejected")
    batches_refused_by_reason: dict[str, int] = Field(default_factory=dict, description="Those batches by code "
                                                      "(batch_empty, batch_too_large, json_invalid …)")
