"""The base of every domain's refusal: a stable code, Chinese and English text, and the field."""

from __future__ import annotations


class BilingualError(ValueError):
    """Raised by services; an API route need not catch it: ``xinyong.errors`` answers it with
    ``status`` and the standard error shape (``api_errors()``)."""

    status: int = 422

    def __init__(self, code: str, zh: str, en: str, field: str | None = None) -> None:
        self.code, self.zh, self.en, self.field = code, zh, en, field
        super().__init__(f"{zh} / {en}")

    @property
    def message(self) -> str:
        return f"{self.zh} / {self.en}"

    def api_errors(self) -> list[dict[str, str]] | None:
        """The ``errors`` array of the standard error shape: the field and why."""
        return [{"field": self.field or "body", "code": self.code, "message": self.message}]
