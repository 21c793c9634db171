from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field


class LookupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id_number: str = Field(min_length=1, max_length=32, description="18-character resident ID number")


class LookupOut(BaseModel):
    subject_id: int


class MembershipOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    group_code: str
    group_name: str = ""
    qualification_no: str | None
    employer: str | None
    valid_from: date | None
    valid_to: date | None


class StudentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    school: str
    level: str | None
    enrolled_on: date
    left_on: date | None


class SubjectOut(BaseModel):
    id: int
    id_number_masked: str
    name_masked: str
    # the citizen's own only: the mask hides the birth date's eight digits, and beside it the date
    # would give the whole number back
    birth_date: date | None = Field(description="the citizen's own read only; null for staff and keys")
    gender: str
    region_code: str
    groups: list[MembershipOut]
    students: list[StudentOut]


class MembershipIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    group_code: str = Field(max_length=32)
    qualification_no: str | None = Field(default=None, max_length=64)
    employer: str | None = Field(default=None, max_length=128)
    valid_from: date | None = None
    valid_to: date | None = None


class StudentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    school: str = Field(min_length=1, max_length=128)
    enrolled_on: date
    student_no: str | None = Field(default=None, max_length=64)
    level: str | None = Field(default=None, pattern=r"^(higher|vocational|adult|basic)$")
