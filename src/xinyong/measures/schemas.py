"""Pydantic shapes of the check API and the measures' definitions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool


class CheckIn(BaseModel):
    """The ID number travels only here (never in a URL); it is validated, blind-indexed and dropped."""

    model_config = ConfigDict(extra="forbid")
    id_number: str = Field(max_length=64, description="Resident ID number (18 characters)")
    scenario: str = Field(max_length=200, description="Scenario code, see GET /api/v1/scenarios")


class ListOut(BaseModel):
    code: str
    name: str
    name_en: str
    since: str | None


class MeasureOut(BaseModel):
    code: str
    name: str
    name_en: str
    kind: str
    basis: str
    department: str


class ReceiptOut(BaseModel):
    alg: str = Field(description="Ed25519")
    public_key: str = Field(description="base64 raw public key (GET /api/v1/checks/receipt-key)")
    signature: str = Field(description="base64 signature over the canonical answer (keys sorted, no receipt)")


class CheckOut(BaseModel):
    check_id: str
    checked_at: str
    department: str
    scenario: str
    scenario_name: str
    scenario_name_en: str
    id_number_masked: str
    known: bool = Field(description="false: unknown to the platform; a clean answer")
    note: str | None = None
    grade: str
    ruleset_version: int
    lists: list[ListOut]
    clean_3y: bool
    measures: list[MeasureOut]
    measures_version: str
    receipt: ReceiptOut


class StoredCheckOut(BaseModel):
    """A check read back: the stored answer as it was given (the fields of the check's answer, with
    its receipt), or the signed refusal (``outcome`` ``refused``), or for a batch comparison row its
    register row; and ``verified``."""

    model_config = ConfigDict(extra="allow")
    check_id: str
    checked_at: str | None = None
    department: str | None = None
    scenario: str | None = None
    grade: str | None = None
    lists: list[ListOut] | None = None
    measures: list[MeasureOut] | None = None
    receipt: ReceiptOut | None = None
    note: str | None = None
    verified: bool | None = Field(description="the receipt verifies over the stored answer (or refusal) and the "
                                              "register row agrees with it; null for a batch comparison row, "
                                              "not signed on its own (see `note`), whose body then holds its "
                                              "register row instead")
    outcome: str | None = Field(None, description="`refused` for a refused check (its signed refusal: `refusal`, "
                                                  "`scenario`, `department`, `checked_at`)")
    refused: str | None = Field(None, description="the refusal's code, for a refused check")


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    measure: str = Field(max_length=64)
    applied: StrictBool  # true or false: "yes", "1" or "false" as text are refused, not guessed
    note: str | None = Field(default=None, max_length=2000)


class FeedbackOut(BaseModel):
    id: int
    check_id: str
    measure: str
    applied: bool
    note: str | None
    created_at: datetime


class ChannelCountsOut(BaseModel):
    answered: int
    feedback: int
    applied: int


class FeedbackStatOut(BaseModel):
    department: str
    department_name: str
    department_name_en: str
    measure: str
    measure_name: str
    measure_name_en: str
    answered: int
    feedback: int
    applied: int
    feedback_rate: float | None = Field(description="feedback / answered (反馈率)")
    applied_rate: float | None = Field(description="applied / answered")
    single_feedback_rate: float | None = Field(
        None, description="反馈率 of single checks (API and page), batch comparison rows left out")
    by_channel: dict[str, ChannelCountsOut] = Field(
        default_factory=dict, description="the same counts per channel: api, page, batch")


class ScenarioOut(BaseModel):
    code: str
    name_zh: str
    name_en: str
    active: bool = True
    version: int = 0


class ScenarioIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # what GET answers may be sent back as it is: its code (must be the path's) and version (ignored:
    # a save that changes something makes the next one)
    code: str | None = Field(default=None, max_length=64, description="if given, the code of the path")
    version: int | None = Field(default=None, description="ignored: the version is the platform's")
    name_zh: str = Field(max_length=128)
    name_en: str = Field(max_length=128)
    active: StrictBool = True  # true or false: "no" or 0 are refused, not taken as a retirement
    reason: str | None = Field(default=None, max_length=2000)


class MeasureDefOut(BaseModel):
    code: str
    name_zh: str
    name_en: str
    kind: str
    applies_to: list[str]
    scenarios: list[str]
    department: str
    basis: str
    active: bool = True
    version: int = 0


class MeasureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # what GET answers may be sent back as it is: its code (must be the path's) and version (ignored:
    # a save that changes something makes the next one)
    code: str | None = Field(default=None, max_length=64, description="if given, the code of the path")
    version: int | None = Field(default=None, description="ignored: the version is the platform's")
    name_zh: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    kind: str
    applies_to: list[str]
    scenarios: list[str]
    department: str = Field(max_length=200)
    basis: str = Field(max_length=4000)
    active: StrictBool = True  # true or false: "no" or 0 are refused, not taken as a retirement
    reason: str | None = Field(default=None, max_length=2000)


class ChangeOut(BaseModel):
    version: int
    data: dict[str, Any]
    reason: str | None
    changed_by: str | None
    changed_at: datetime


class BatchJobOut(BaseModel):
    id: int
    scenario: str
    filename: str
    status: str
    rows_total: int | None
    rows_done: int
    counts: dict[str, int]
    error: dict[str, Any] | None
    created_by: str | None
    created_at: datetime
    finished_at: datetime | None
    result_url: str | None
