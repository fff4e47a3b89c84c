"""Recording timeline events and telling the apps above about them.

cdp sits low in the dependency order, so it never imports journeys or analytics. Instead every transaction
that records events enqueues one task per consumer named in settings.CUSTOMER_EVENT_CONSUMERS with the new
event ids, visible to workers once the transaction commits. Consumers are idempotent (they may see an id twice)
and read the rows themselves.

How "once it commits" is done depends on the broker. With django-q2's ORM broker on the events' own database
the task rows are inserted in the same transaction as the events (an outbox): workers cannot see them before
the commit, a rollback takes them away, and the commit is the only one (a second transaction just for the
tasks would cost another WAL flush, about half of a merge). With any other broker (Redis) or in sync mode the
tasks are enqueued by an on-commit callback, as a message to another system cannot be rolled back.
"""

import logging
import threading
from contextlib import contextmanager
from functools import cache

from django.conf import settings
from django.db import connections, router, transaction
from django.utils import timezone
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
    announce(events[0].team_id, ids)
    return events


def announce(team_id, ids):
    """Tell the consumers about timeline events written in the current transaction (by record_events, or by a
    set-based statement that inserts them itself): their tasks become visible to workers when it commits."""
    pending = getattr(_batch, "ids", None)
    if pending is not None:
        pending.setdefault(team_id, []).extend(ids)
        return
    alias = router.db_for_write(CustomerEvent)
    if _broker_is_transactional(alias) and transaction.get_connection(alias).in_atomic_block:
        _enqueue_in_transaction(team_id, ids)
    else:  # in autocommit mode an on-commit callback runs at once
        transaction.on_commit(lambda: notify_consumers(team_id, ids))


def _broker_is_transactional(alias):
    """django-q2's ORM broker (as its get_broker() picks it) on the events' database, tasks not run inline."""
    from django_q.conf import Conf

    other_broker = Conf.BROKER_CLASS or Conf.IRON_MQ or isinstance(Conf.SQS, dict)
    return Conf.ORM == alias and not other_broker and not Conf.SYNC


_batch = threading.local()


@contextmanager
def batched_notifications():
    """Inside a transaction: collect the event ids recorded in the block and notify consumers once per team.

    Used by bulk writers (the events API, imports, merges) so a batch of 100 events enqueues one task per
    consumer instead of 100. Ids of rows rolled back with a savepoint may be included; consumers ignore missing
    rows.
    """
    if getattr(_batch, "ids", None) is not None:
        yield
        return
    _batch.ids = {}
    try:
        yield
    except BaseException:
        # The block failed: the connection may be unusable until a rollback, so enqueue nothing now. What the
        # block recorded may still commit if a caller handles the error; an on-commit callback covers that.
        collected, _batch.ids = _batch.ids, None
        for team_id, ids in collected.items():
            transaction.on_commit(lambda team_id=team_id, ids=ids: notify_consumers(team_id, ids))
        raise
    collected, _batch.ids = _batch.ids, None
    for team_id, ids in collected.items():
        announce(team_id, ids)


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
    """After a commit: one task per consumer, through whichever broker is configured (one transaction, so one
    commit for all of them with the ORM broker)."""
    from django_q.tasks import async_task

    with transaction.atomic():
        for path in _consumers():
            async_task(path, team_id, list(event_ids), task_name=f"customer-events:{path}")


def _enqueue_in_transaction(team_id, event_ids):
    """ORM broker, inside the events' transaction: django-q2 builds and signs each task, one INSERT adds them."""
    from django_q.conf import Conf
    from django_q.models import OrmQ
    from django_q.tasks import async_task

    collector = _Collector()
    for path in _consumers():
        async_task(path, team_id, list(event_ids), task_name=f"customer-events:{path}", broker=collector)
    if not collector.packages:
        return
    # The row OrmQ.objects.create() would write, as one multi-row INSERT (this runs in every merge and batch).
    connection = connections[Conf.ORM]
    now = OrmQ._meta.get_field("lock").get_db_prep_value(timezone.now(), connection)
    rows = [(collector.list_key, package, now) for package in collector.packages]
    table, key, payload, lock = map(connection.ops.quote_name, (OrmQ._meta.db_table, "key", "payload", "lock"))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({key}, {payload}, {lock}) VALUES " + ", ".join(["(%s, %s, %s)"] * len(rows)),
            [value for row in rows for value in row],
        )


class _Collector:
    """Stands in for django-q2's ORM broker in async_task: keeps the signed packages instead of inserting each."""

    def __init__(self):
        from django_q.conf import Conf

        self.list_key = Conf.CLUSTER_NAME  # what the ORM broker (get_broker()) uses as the queue key
        self.packages = []

    def enqueue(self, package):
        self.packages.append(package)
        return len(self.packages)
