from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from xinyong.lists.models import MANUAL_REMOVAL_KINDS

BIGINT = 9_223_372_036_854_775_807


class CategoryOut(BaseModel):
    code: str
    name_zh: str
    name_en: str


class ListKindOut(BaseModel):
    code: str
    name_zh: str
    name_en: str
    kind: str = Field(description="red | dishonesty | status (the computed clean_3y pseudo-list)")
    source: str = Field(description="decision | rule | catalog | computed")
    public: bool
    version: int
    defence_working_days: int | None
    duration_months: int | None
    legal_basis: str | None
    categories: list[CategoryOut]
    counts: dict[str, int] = Field(description="Entries by status (the caller's department's only, for departments)")


class EntryOut(BaseModel):
    id: int
    list_code: str
    subject_id: int
    id_number_masked: str
    name_masked: str
    status: str
    source: str
    category: str | None
    reason: str
    department: str | None
    legal_basis: str | None
    record_id: int | None
    proposed_at: datetime
    proposed_by: str | None
    notified_at: datetime | None
    defence_deadline: date | None
    defence: str | None
    defence_at: datetime | None
    listed_on: date | None
    valid_until: date | None
    decided_at: datetime | None
    decided_by: str | None
    decision_reason: str | None
    removed_at: datetime | None
    removal_kind: str | None
    removal_reason: str | None
    published: bool = Field(description="Listed on a public list")


class EntryListOut(BaseModel):
    items: list[EntryOut]
    next_before_id: int | None


class CleanOut(BaseModel):
    subject_id: int
    id_number_masked: str
    name_masked: str
    last_bad_record_on: date | None = Field(description="Decision date of the latest bad record, if any")


class CleanListOut(BaseModel):
    list_code: Literal["clean_3y"] = "clean_3y"
    on: date
    items: list[CleanOut]
    next_before_id: int | None


class EntryIn(BaseModel):
    """A proposal (dishonesty lists) or an addition by decision (red lists, credit office only)."""

    model_config = ConfigDict(extra="forbid")
    subject_id: int = Field(ge=1, le=BIGINT, description="From POST /api/v1/subjects/lookup")
    reason: str = Field(min_length=1, max_length=2000)
    category: str | None = Field(default=None, max_length=64)
    legal_basis: str | None = Field(default=None, max_length=2000)
    department: str | None = Field(default=None, max_length=32,
                                   description="Deciding department's code (the credit office names it; "
                                               "a department's own is used otherwise)")
    valid_until: date | None = None


class NotifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=2000, description="How the person was told")


class DefenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    defence: str = Field(min_length=1, max_length=2000)


class DecideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["list", "reject"]
    reason: str = Field(min_length=1, max_length=2000)
    valid_until: date | None = None


class RemoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal[MANUAL_REMOVAL_KINDS] = Field(description="expiry | repair | revocation | decision")  # type: ignore[valid-type]
    reason: str = Field(min_length=1, max_length=2000)
