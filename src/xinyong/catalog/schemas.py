from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class FieldOut(BaseModel):
    name: str
    name_zh: str
    type: str
    required: bool
    allowed: list[str] | None = None
    labels: dict[str, str] | None = None  # an enum's Chinese label per allowed value (accepted for it)
    max_length: int | None = None
    min: float | None = None
    max: float | None = None


class PeriodOut(BaseModel):
    publish: bool
    min_months: int
    max_months: int


class ExtensionOut(BaseModel):
    field: str
    months: int


class ItemOut(BaseModel):
    code: str
    version: int
    name: str
    name_en: str
    category: str
    visibility: str
    key_field: str | None
    legal_basis: str | None
    departments: list[str]
    severities: list[str] | None
    fields: list[FieldOut]
    display: dict[str, PeriodOut] = Field(description="Display period per severity, or 'default'")
    retention_years: int | None
    display_extension: ExtensionOut | None = Field(
        default=None, description="A record's integer field lengthening its display: its value times `months`")
    retention_from: str | None = Field(
        default=None, description="A record's date field (the end of the act) from which retention counts when given; "
                                  "else from `decided_at`")


class ItemDetailOut(ItemOut):
    spec: dict[str, Any] = Field(description="The item's full definition in the shape `PUT` takes (the shipped "
                                             "YAML's): read, change, send back as `{\"spec\": …}`")


class ItemUpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    spec: dict[str, Any] = Field(description="The item's full definition (same shape as the YAML)")
    note: str | None = Field(default=None, max_length=500)
