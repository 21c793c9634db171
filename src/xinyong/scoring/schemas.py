from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ContributionOut(BaseModel):
    record_id: int | None = Field(description="The record (null for a hypothetical one in a what-if)")
    item: str
    variant: str = Field(description="Severity, level, or empty")
    decided_at: date
    points: int
    reason: str = Field(description="Chinese / English")
    counts_until: date = Field(description="The last day this record counts (its window or display, whichever ends first)")


class ScoreOut(BaseModel):
    subject_id: int
    score: int
    grade: str
    ruleset_version: int
    base: int
    points_grade: str = Field(description="The grade the points alone give (before a list forces one)")
    forced_by: list[str] = Field(description="Lists that force the grade")
    lists: list[dict[str, Any]]
    contributions: list[ContributionOut]


class WhatIfIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    changes: list[dict[str, Any]] = Field(
        min_length=1, max_length=50,
        description='[{"remove_record": 12}, {"add": {"item": "honor", "level": "city", "decided_at": "2026-11-01"}}, '
                    '{"add": {"item": "dishonest_debtor", "decided_at": "2025-01-10", "fields": {"extension_years": 1}}}]'
                    ' — add.fields: the item\'s display extension field (catalog display.extension), checked as a '
                    'pushed record\'s field is')


class WhatIfContributionOut(ContributionOut):
    display_until: date | None = Field(
        default=None, description="The day its display ends (a supposed record's from its item's rule, decision date, "
                                  "severity and display extension field)")


class WhatIfOut(BaseModel):
    subject_id: int
    current_score: int
    current_grade: str
    score: int
    grade: str
    ruleset_version: int
    forced_by: list[str]
    contributions: list[WhatIfContributionOut]


class RulesetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    yaml: str | None = Field(default=None, max_length=200_000, description="The ruleset as YAML text")
    ruleset: dict[str, Any] | None = Field(default=None, description="The ruleset as a JSON object (instead of yaml)")
    effective_from: date | None = Field(default=None, description="Default: the text's effective_from, else today")
    note: str | None = Field(default=None, max_length=500)


class RuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    item_code: str
    variant: str
    min_hours: float
    points: int
    window_months: int
    mode: str
    doubles: bool


class RulesetOut(BaseModel):
    version: int
    effective_from: date
    active: bool
    base: int
    created_at: datetime
    created_by: str | None
    note: str | None
    spec: dict[str, Any] | None = None
    source: str | None = None
    rules: list[RuleOut] | None = None


class PreviewOut(BaseModel):
    subjects: int
    changed: int
    changes: list[dict[str, Any]] = Field(description='[{"from": "A", "to": "B", "count": 12}, …]')
    distribution: dict[str, int]


class GradeCount(BaseModel):
    grade: str
    count: int


class DistributionOut(BaseModel):
    ruleset_version: int
    total: int
    grades: list[GradeCount]
