"""The subjects' after-change handlers: before any other handler derives state from a subject's
data, the transaction takes its turn on the subject (:func:`service.lock_subjects`). Registered
first (``xinyong.wiring``), for both announcements: a push and a listing decision for the same
person recompute the same status."""

from __future__ import annotations

from sqlalchemy.orm import Session

from xinyong import events
from xinyong.subjects import service


@events.on_records_changed("subject_locks")
def records_changed(session: Session, event: events.RecordsChanged) -> None:
    service.lock_subjects(session, event.subject_ids - event.new_subjects)


@events.on_lists_changed("subject_locks")
def lists_changed(session: Session, event: events.ListsChanged) -> None:
    service.lock_subjects(session, event.subject_ids)
