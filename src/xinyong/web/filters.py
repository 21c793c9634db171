"""What the list pages' filter forms share (records, audit log): a filter value that cannot be
applied is refused — its message, the filter marked, the value shown back as typed — and the page
then lists nothing (an empty list would read as "nothing there")."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from xinyong.catalog.spec import parse_date
from xinyong.privacy.masking import may_hold_id_number

CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def echo(raw: str) -> str:
    """A refused filter value as the form shows it again: control characters dropped, and nothing of a
    value holding 17 digits in a row (an ID number's shape: no filter of these pages has one), which
    would be shown on screen and sent again in the form's address."""
    return "" if may_hold_id_number(raw) else CONTROL.sub("", raw)


@dataclass
class RefusableFilters:
    """The refusals of a page's filters. Subclasses add the filters themselves, each with a default."""

    errors: list[str] = field(default_factory=list)  # message keys of refused filter values
    refused: list[str] = field(default_factory=list)  # the filters refused, by name (marked in the form)
    # what was typed for each filter refused for its value (control characters dropped), shown back in the form
    typed: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)  # each refused filter's first message key (the API's codes)

    def refuse(self, name: str, key: str, raw: str | None = None) -> None:
        """Filter ``name`` cannot be applied: message ``key``, the filter marked, and the value as typed
        (``raw``) kept for the form."""
        if key not in self.errors:
            self.errors.append(key)
        if name not in self.refused:
            self.refused.append(name)
            self.reasons[name] = key
        if raw is not None:
            self.typed[name] = echo(raw)

    def read_days(self, key: str, **raw: str) -> None:
        """Date filters (``name=typed``, ``YYYY-MM-DD`` as :func:`catalog.spec.parse_date` reads it): each
        given one set on the filter of that name, or refused with message ``key``."""
        for name, typed in raw.items():
            value = typed.strip()
            if value:
                day = parse_date(value)
                if day is None:
                    self.refuse(name, key, value)
                else:
                    setattr(self, name, day)

    def shown(self, name: str) -> str:
        """The value the form shows for filter ``name``: as typed if refused for its value, else as applied."""
        if name in self.typed:
            return self.typed[name]
        value = getattr(self, name)
        return value.isoformat() if isinstance(value, date) else (value or "")
