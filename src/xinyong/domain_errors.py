"""The base of every domain's refusal: a stable code, Chinese and English text, and the field."""

from __future__ import annotations


class BilingualError(ValueError):
    def __init__(self, code: str, zh: str, en: str, field: str | None = None) -> None:
        self.code, self.zh, self.en, self.field = code, zh, en, field
        super().__init__(f"{zh} / {en}")

    @property
    def message(self) -> str:
        return f"{self.zh} / {self.en}"
