from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class Me(BaseModel):
    kind: str
    id: int
    role: str
    label: str
    department_id: int | None = None
    department_code: str | None = None


class DepartmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=2, max_length=32, pattern=r"^[A-Za-z0-9_\-]+$")
    name: str = Field(min_length=1, max_length=128)
    name_en: str | None = Field(default=None, max_length=128)
    kind: str = Field(default="department", pattern=r"^(department|institution)$")


class DeactivateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(description="Why the department stops acting (机构撤并 …): 1-500 characters, kept in the "
                        "audit log")


class DepartmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    code: str
    name: str
    name_en: str | None
    kind: str
    active: bool


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=128)
    department: str | None = Field(default=None, description="Department code; admins only. Officers get their own.")


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    department_id: int
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret. Shown only once; store it in the calling system.")


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=3, max_length=64)
    password: str = Field(min_length=10, max_length=256)
    role: str
    department: str | None = None
    id_number: str | None = Field(default=None, description="Citizens only: binds the account to this person")
    display_name: str | None = Field(default=None, max_length=128)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    username: str
    role: str
    department_id: int | None
    active: bool
    created_at: datetime
    last_login_at: datetime | None
