"""Settings, read from the environment (prefix ``XINYONG_``) and an optional ``.env`` file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from xinyong import clock


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="XINYONG_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./var/xinyong.db",
        description="SQLAlchemy URL. SQLite (embedded) or postgresql+psycopg://…",
    )
    key_file: Path = Field(default=Path("./var/keys.json"), description="Keys for encryption and indexes")
    checkpoint_dir: Path = Field(
        default=Path("./var/checkpoints"),
        description="Where signed audit checkpoints are written; keep a copy outside the database host",
    )
    timezone: str = Field(
        default=clock.DEFAULT_ZONE,
        description="The district's time zone (IANA name): the platform's days are counted in it (xinyong.clock)",
    )
    environment: str = Field(default="development", description="development | production")
    district_code: str = Field(default="120101", description="GB/T 2260 code of the district (和平区)")
    district_name: str = "和平区"
    # A zero or negative value made no sense and was taken as given (sessions ending at once, every
    # failed password locking the account, every request body too large): refused at start instead.
    session_hours: int = Field(default=8, gt=0)
    session_idle_minutes: int = Field(default=30, gt=0)
    login_max_failures: int = Field(default=5, gt=0)
    login_lockout_minutes: int = Field(default=15, gt=0)
    audit_seal_interval_seconds: float = Field(
        default=2.0, ge=0, description="How often the server seals pending audit entries; 0 disables"
    )
    max_request_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    rate_limits: str = Field(
        default="checks=100/s:200,reports=30/m:10,login=30/m:30",
        description="Per-caller limits, name=rate/unit[:burst] comma-separated (units s, m, h); 'off' disables",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        clock.zone_of(value)  # ValueError naming the setting's problem
        return value

    @field_validator("rate_limits")
    @classmethod
    def _readable_limits(cls, value: str) -> str:
        from xinyong.ratelimit import parse_limits  # the server's own reading: refused at start, not at serve

        parse_limits(value)  # ValueError naming what is wrong
        return value

    @property
    def tz(self) -> ZoneInfo:
        return clock.zone_of(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def secure_cookies(self) -> bool:
        return self.environment != "development"


@lru_cache
def get_settings() -> Settings:
    return Settings()


def reset_settings_cache() -> None:
    get_settings.cache_clear()
