"""The one in-process registry of after-change handlers.

A lower domain announces a change; higher domains register handlers and run inside the same
transaction, so a new record regrades its subject before the commit. Handlers must not commit.

Two announcements, in the order data flows (records → lists → scoring/subject status → measures):

- ``records_changed``: records of these subjects were created, updated, revoked, expired, archived;
- ``lists_changed``: list entries of these subjects changed state (listed, removed, …).

Handlers are registered by the modules that ``xinyong.wiring`` imports, in its order; the
registry loads it on first use, so every entry point (web, CLI, tests, demo) runs the same
handlers without remembering to import them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class RecordsChanged:
    subject_ids: frozenset[int]
    record_ids: frozenset[int] = field(default_factory=frozenset)
    reason: str = "push"  # push | revoke | expire | archive | recompute
    # Subjects whose only change is new records (no record updated, revoked or moved): the
    # (item code, category) of those records, so that a handler can pass over changes that cannot
    # concern it (scoring: items no rule scores, not bad). Subjects not named here: anything changed.
    created_items: Mapping[int, frozenset[tuple[str, str]]] = field(default_factory=dict)
    # Subjects this transaction created: no other transaction can see them before it commits (one
    # creating the same person waits on the unique blind index), so there is nothing to take turns on.
    new_subjects: frozenset[int] = field(default_factory=frozenset)
    # The day the change counts on, when the announcer has one (ingestion's ``today``); None: today.
    today: date | None = None


@dataclass(frozen=True)
class ListsChanged:
    subject_ids: frozenset[int]
    entry_ids: frozenset[int] = field(default_factory=frozenset)
    reason: str = "decision"  # listed | removed | expired | refresh | …
    today: date | None = None  # the day the change counts on (``maintain --today D``); None: today


Handler = Callable[[Session, RecordsChanged], None]
ListsHandler = Callable[[Session, ListsChanged], None]
_handlers: list[tuple[str, Handler]] = []
_lists_handlers: list[tuple[str, ListsHandler]] = []
_wired = False


@dataclass
class _Dispatch:
    """A ``records_changed`` announcement being handled: the handlers still to run, and what other
    announcements made meanwhile handed over to them (:func:`defer`)."""

    pending: set[str]
    deferred: dict[str, set[int]] = field(default_factory=dict)


# per thread and task (a server runs several transactions at once)
_dispatching: ContextVar[_Dispatch | None] = ContextVar("xinyong_records_dispatch", default=None)


def defer(name: str, subject_ids: Iterable[int]) -> bool:
    """Inside the handling of a ``records_changed`` announcement whose handler ``name`` has not run
    yet: hand ``subject_ids`` over to it (it reads them with :func:`deferred`) and return True; else
    False. The subjects' status is then computed once a batch, not once for a list change (a
    debtor's record lists them, inside the records' handling) and again for the records."""
    current = _dispatching.get()
    if current is None or name not in current.pending:
        return False
    current.deferred.setdefault(name, set()).update(subject_ids)
    return True


def deferred(name: str) -> frozenset[int]:
    """The subjects other announcements handed over to the running handler ``name`` (:func:`defer`)."""
    current = _dispatching.get()
    return frozenset(current.deferred.get(name, ())) if current is not None else frozenset()


def _ensure_wired() -> None:
    global _wired
    if not _wired:
        _wired = True
        import importlib

        importlib.import_module("xinyong.wiring")


def on_records_changed(name: str) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        global _handlers
        _handlers = [(n, h) for n, h in _handlers if n != name] + [(name, fn)]
        return fn

    return deco


def on_lists_changed(name: str) -> Callable[[ListsHandler], ListsHandler]:
    def deco(fn: ListsHandler) -> ListsHandler:
        global _lists_handlers
        _lists_handlers = [(n, h) for n, h in _lists_handlers if n != name] + [(name, fn)]
        return fn

    return deco


def records_changed(session: Session, subject_ids: Iterable[int], record_ids: Iterable[int] = (),
                    reason: str = "push", created_items: Mapping[int, frozenset[tuple[str, str]]] | None = None,
                    new_subjects: Iterable[int] = (), today: date | None = None) -> None:
    _ensure_wired()
    event = RecordsChanged(frozenset(subject_ids), frozenset(record_ids), reason, created_items or {},
                           frozenset(new_subjects), today)
    if not event.subject_ids:
        return
    handlers = list(_handlers)
    current = _Dispatch({name for name, _ in handlers})
    token = _dispatching.set(current)
    try:
        for name, handler in handlers:
            current.pending.discard(name)  # from now on it takes nothing more over
            handler(session, event)
    finally:
        _dispatching.reset(token)


def lists_changed(session: Session, subject_ids: Iterable[int], entry_ids: Iterable[int] = (),
                  reason: str = "decision", today: date | None = None) -> None:
    _ensure_wired()
    event = ListsChanged(frozenset(subject_ids), frozenset(entry_ids), reason, today)
    if not event.subject_ids:
        return
    for _name, handler in list(_lists_handlers):
        handler(session, event)


def registered() -> list[str]:
    _ensure_wired()
    return [n for n, _ in _handlers]


def registered_lists_handlers() -> list[str]:
    _ensure_wired()
    return [n for n, _ in _lists_handlers]
