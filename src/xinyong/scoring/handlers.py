"""After-change handlers: a change to a subject's records or list entries recomputes their score and
status in the same transaction, batch-wise (one set-based refresh per announcement)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from xinyong import clock, events
from xinyong.scoring import service


@events.on_records_changed("scoring")
def on_records_changed(session: Session, event: events.RecordsChanged) -> None:
    # subjects whose list entries the records' handling changed first (a debtor's record lists
    # them): refreshed here, once, whatever their new records are
    listed = events.deferred("scoring")
    created = event.created_items
    if listed:
        created = {sid: items for sid, items in created.items() if sid not in listed}
    # the day the change counts on: ``maintain --today D`` expires and archives records as of D, and
    # their subjects are regraded as of D too (clock.today() left statuses a recomputation on D differs from)
    service.refresh(session, event.subject_ids | listed, today=event.today or clock.today(),
                    reason=f"records.{event.reason}", created_items=created)


@events.on_lists_changed("scoring")
def on_lists_changed(session: Session, event: events.ListsChanged) -> None:
    if events.defer("scoring", event.subject_ids):  # inside the records' handling: refreshed with them
        return
    service.refresh(session, event.subject_ids, today=event.today or clock.today(), reason=f"lists.{event.reason}")
