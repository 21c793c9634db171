"""The lists' after-change handler: the catalog-fed lists follow their records.

Registered on ``records_changed`` (``xinyong.wiring`` imports this module before scoring's, so the
subject status is written after the entries changed). One batch of records costs a few queries,
whatever its size: the catalog-fed kinds, the batch's records of those items, their open entries.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from xinyong import events
from xinyong.lists import service


@events.on_records_changed("lists")
def records_changed(session: Session, event: events.RecordsChanged) -> None:
    if event.record_ids:
        service.sync_catalog_records(session, record_ids=event.record_ids)
    else:
        service.sync_catalog_records(session, subject_ids=event.subject_ids)
