"""Recording timeline events and telling the apps above about them.

cdp sits low in the dependency order, so it never imports journeys or analytics. Every transaction that records
events writes, in that same transaction, one accounts.Handoff row per consumer named in
settings.CUSTOMER_EVENT_CONSUMERS with the new event ids (accounts/handoff.py): the consumers' work exists exactly
when the events do, a rollback takes both away, and a worker that dies while handling it leaves the row for the
next drain. Queue messages are only hints to drain. Consumers read the events themselves and are idempotent.
"""

import threading
from contextlib import contextmanager

from django.db import transaction

from accounts import handoff

from .models import CustomerEvent


def record_events(events):
    """Bulk-insert CustomerEvent instances and announce them to the consumers. Returns the saved rows."""
    events = [event for event in events if event is not None]
    if not events:
        return []
    CustomerEvent.objects.bulk_create(events)
    ids = [event.pk for event in events if event.pk is not None]
    if not ids:  # backends without RETURNING for bulk_create
        ids = list(
            CustomerEvent.objects.filter(team=events[0].team)
            .order_by("-id")
            .values_list("id", flat=True)[: len(events)]
        )
    announce(events[0].team_id, ids)
    return events


def announce(team_id, ids):
    """Tell the consumers about timeline events written in the current transaction (by record_events, or by a
    set-based statement that inserts them itself): one Handoff row per consumer, in the same transaction."""
    pending = getattr(_batch, "ids", None)
    if pending is not None:
        pending.setdefault(team_id, []).extend(ids)
        return
    handoff.add(team_id, "events", [list(ids)])


_batch = threading.local()


@contextmanager
def batched_notifications():
    """Inside a transaction: collect the event ids recorded in the block and notify consumers once per team.

    Used by bulk writers (the events API, imports, merges, webhook processing) so a batch of 100 events writes
    one hand-off row per consumer instead of 100. Ids of rows rolled back with a savepoint may be included;
    consumers ignore missing rows.
    """
    if getattr(_batch, "ids", None) is not None:
        yield
        return
    _batch.ids = {}
    try:
        yield
    except BaseException:
        # The block failed: the connection may be unusable until a rollback, so write nothing now. What the
        # block recorded may still commit if a caller handles the error; an on-commit callback covers that (the
        # one case where the hand-off is written just after the commit rather than with it).
        collected, _batch.ids = _batch.ids, None
        for team_id, ids in collected.items():
            transaction.on_commit(lambda team_id=team_id, ids=ids: handoff.add(team_id, "events", [ids]))
        raise
    collected, _batch.ids = _batch.ids, None
    for team_id, ids in collected.items():
        announce(team_id, ids)


def record_event(**fields):
    return record_events([CustomerEvent(**fields)])[0]
