"""After-change handlers: a change to a subject's records or list entries recomputes their score and
status in the same transaction, batch-wise (one set-based refresh per announcement)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from xinyong import clock, events
from xinyong.scoring import service


@events.on_records_changed("scoring")
def on_records_changed(session: Session, event: events.RecordsChanged) -> None:
    service.refresh(session, event.subject_ids, today=clock.today(), reason=f"records.{event.reason}",
                    created_items=event.created_items)


@events.on_lists_changed("scoring")
def on_lists_changed(session: Session, event: events.ListsChanged) -> None:
    service.refresh(session, event.subject_ids, today=clock.today(), reason=f"lists.{event.reason}")
