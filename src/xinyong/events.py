"""The one in-process registry of after-change handlers.

A lower domain announces a change (``records_changed``); higher domains (scoring, lists, measures)
register handlers at start-up and run inside the same transaction, so a new record regrades its
subject before the commit. Handlers must not commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class RecordsChanged:
    subject_ids: frozenset[int]
    record_ids: frozenset[int] = field(default_factory=frozenset)
    reason: str = "push"  # push | revoke | expire | archive | recompute


Handler = Callable[[Session, RecordsChanged], None]
_handlers: list[tuple[str, Handler]] = []


def on_records_changed(name: str) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        global _handlers
        _handlers = [(n, h) for n, h in _handlers if n != name] + [(name, fn)]
        return fn

    return deco


def records_changed(session: Session, subject_ids: Iterable[int], record_ids: Iterable[int] = (),
                    reason: str = "push") -> None:
    event = RecordsChanged(frozenset(subject_ids), frozenset(record_ids), reason)
    if not event.subject_ids:
        return
    for _name, handler in list(_handlers):
        handler(session, event)


def registered() -> list[str]:
    return [n for n, _ in _handlers]
