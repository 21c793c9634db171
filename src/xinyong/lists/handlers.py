"""The lists' after-change handler: the catalog-fed lists and the rule-based red lists follow their
records.

Registered on ``records_changed`` (``xinyong.wiring`` imports this module before scoring's, so the
subject status is written after the entries changed). One batch of records costs a few queries,
whatever its size: the list kinds, the batch's records of the catalog-fed items, their open entries;
for the rule-based lists, which of the batch's subjects with a new bad record (or another change)
are on one, and the rule's statements for those, if any.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from xinyong import events
from xinyong.lists import service


@events.on_records_changed("lists")
def records_changed(session: Session, event: events.RecordsChanged) -> None:
    kinds = service.all_kinds(session)  # once for both
    if event.record_ids:
        service.sync_catalog_records(session, record_ids=event.record_ids, kinds=kinds)
    else:
        service.sync_catalog_records(session, subject_ids=event.subject_ids, kinds=kinds)
    # A rule-based red listing the change disqualifies ends with it (a serious penalty, a revoked
    # or expired record), not at the next daily refresh: a check meanwhile would answer the red
    # list's incentives. Admission waits for the daily refresh (lists.service.rule_subjects).
    rule_kinds, subjects = service.rule_subjects(session, event, kinds)
    if subjects:
        service.refresh(session, subject_ids=subjects, kinds=rule_kinds, today=event.today)


@events.on_lists_changed("lists")
def lists_changed(session: Session, event: events.ListsChanged) -> None:
    # A dishonesty listing ends the subject's red listings with it (the rules admit nobody listed as
    # dishonest, a decision cannot list them), before scoring writes the status a check reads.
    rule_kinds, subjects, decided_red = service.dishonesty_listed_on_red_lists(session, event)
    if decided_red:
        service.end_red_for_dishonesty(session, decided_red, today=event.today)
    if subjects:
        service.refresh(session, subject_ids=subjects, kinds=rule_kinds, today=event.today)
