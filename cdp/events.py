"""Recording timeline events and telling the apps above about them.

cdp sits low in the dependency order, so it never imports journeys or analytics. Instead every transaction
that records events enqueues, on commit, one task per consumer named in settings.CUSTOMER_EVENT_CONSUMERS
with the new event ids. Consumers are idempotent (they may see an id twice) and read the rows themselves.
"""

import logging
import threading
from contextlib import contextmanager
from functools import cache

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

from .models import CustomerEvent

logger = logging.getLogger(__name__)


def record_events(events):
    """Bulk-insert CustomerEvent instances and notify consumers after commit. Returns the saved rows."""
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
    team_id = events[0].team_id
    pending = getattr(_batch, "ids", None)
    if pending is not None:
        pending.setdefault(team_id, []).extend(ids)
    else:
        transaction.on_commit(lambda: notify_consumers(team_id, ids))
    return events


_batch = threading.local()


@contextmanager
def batched_notifications():
    """Inside a transaction: collect the event ids recorded in the block and notify consumers once per team.

    Used by bulk writers (the events API, imports) so a batch of 100 events enqueues one task per consumer
    instead of 100. Ids of rows rolled back with a savepoint may be included; consumers ignore missing rows.
    """
    if getattr(_batch, "ids", None) is not None:
        yield
        return
    _batch.ids = {}
    try:
        yield
    finally:
        collected, _batch.ids = _batch.ids, None
        for team_id, ids in collected.items():
            transaction.on_commit(lambda team_id=team_id, ids=ids: notify_consumers(team_id, ids))


def record_event(**fields):
    return record_events([CustomerEvent(**fields)])[0]


@cache
def _consumers():
    found = []
    for path in getattr(settings, "CUSTOMER_EVENT_CONSUMERS", []):
        try:
            import_string(path)
        except ImportError:
            logger.warning("Customer event consumer %s is not importable; skipped", path)
            continue
        found.append(path)
    return tuple(found)


def notify_consumers(team_id, event_ids):
    from django_q.tasks import async_task

    # One transaction for all consumers (one commit instead of one per task with the ORM broker).
    with transaction.atomic():
        for path in _consumers():
            async_task(path, team_id, list(event_ids), task_name=f"customer-events:{path}")
