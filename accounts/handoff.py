"""Durable hand-off from a lower app to the consumers above it (see accounts.models.Handoff).

`add(team_id, topic, payload)` writes one row per consumer of the topic in the caller's transaction, so the rows
exist exactly when the fact they announce does, and hints a drain after the commit. `drain(consumer)` claims a
team's rows with SKIP LOCKED, calls the consumer and deletes the rows in one transaction: handled once, or not at
all and still there. Topics and their consumers (settings):
- "events": CUSTOMER_EVENT_CONSUMERS, called consumer(team_id, [event ids]); a team's pending rows coalesce
  into one call (a burst of 5,000 per-contact transactions is a few calls, not 10,000 tasks);
- "signal": SIGNAL_CONSUMERS, called consumer(team_id, kind, payload) once per row, in order.
- "inbound": INBOUND_MESSAGE_CONSUMERS, inbound messages an app above messaging acts on (a WhatsApp catalog
  `order`), called like "signal".
- "bulk_tags": BULK_TAG_CONSUMERS, a console bulk tag action too large for its request (cdp), called like "signal".
Drains go team by team, oldest first, a bounded chunk per team per round, so one team's backlog delays another
team's by one chunk at most. A consumer that fails leaves its rows with a backoff and one log line; a lost
database connection leaves them untouched. A per-minute Schedule per consumer drains whatever the hints missed.
"""

import logging
from datetime import timedelta
from functools import cache

from django.conf import settings
from django.db import Error, transaction
from django.db.models import Min
from django.utils import timezone
from django.utils.module_loading import import_string

from . import queues
from .models import Handoff
from .queues import Hint, ensure_schedule

logger = logging.getLogger(__name__)

TOPICS = {
    "events": "CUSTOMER_EVENT_CONSUMERS",
    "signal": "SIGNAL_CONSUMERS",
    "inbound": "INBOUND_MESSAGE_CONSUMERS",
    "bulk_tags": "BULK_TAG_CONSUMERS",
}
# One claim: at most this many rows, and for "events" this many event ids (a bounded IN list and transaction).
CLAIM_ROWS = 500
CLAIM_EVENT_IDS = 10_000
TEAMS_PER_ROUND = 50
MAX_BACKOFF = timedelta(hours=1)


def consumers(topic):
    return tuple(getattr(settings, TOPICS[topic], []))


@cache
def _hint(consumer):
    return Hint(
        "accounts.tasks.drain_handoffs",
        consumer,
        interval_setting="HANDOFF_HINT_SECONDS",
        route=consumer,
        drain=f"handoff:{consumer}",
    )


def add(team_id, topic, payloads):
    """Record `payloads` for every consumer of `topic`, in the current transaction; hint the drains on commit."""
    payloads = list(payloads)
    if not payloads:
        return
    paths = consumers(topic)
    Handoff.objects.bulk_create(
        [
            Handoff(consumer=path, team_id=team_id, topic=topic, payload=payload)
            for path in paths
            for payload in payloads
        ]
    )
    for path in paths:
        transaction.on_commit(_hint(path))


def drain(consumer, *, linger=0.0, max_seconds=None):
    """Handle the consumer's pending rows, team by team, until none is due (then poll for `linger` s)."""
    return queues.drain(
        lambda: sum(handle_team(consumer, team_id) for team_id in _due_teams(consumer)),
        linger=linger,
        max_seconds=max_seconds,
        name=f"handoff:{consumer}",
    )


def _due_teams(consumer):
    return list(
        Handoff.objects.filter(consumer=consumer, available_at__lte=timezone.now())
        .values("team_id")
        .annotate(first=Min("id"))
        .order_by("first")
        .values_list("team_id", flat=True)[:TEAMS_PER_ROUND]
    )


def handle_team(consumer, team_id):
    """Claim one chunk of a team's due rows, hand it to the consumer, delete it: one transaction. Returns rows."""
    func = import_string(consumer)
    with transaction.atomic():
        rows = list(
            Handoff.objects.select_for_update(skip_locked=True)
            .filter(consumer=consumer, team_id=team_id, available_at__lte=timezone.now())
            .order_by("id")[:CLAIM_ROWS]
        )
        rows = _bounded(rows)
        if not rows:
            return 0
        try:
            with transaction.atomic():
                _call(func, team_id, rows)
        except Error as error:  # DatabaseError and InterfaceError (a connection closed under us)
            if transaction.get_rollback() or not _connection_usable():
                raise  # the connection is gone: the rows stay as they were for the next drain
            _failed(rows, error)
            return 0
        except Exception as error:  # noqa: BLE001 - a consumer's bug must not block the rows behind it
            _failed(rows, error)
            return 0
        Handoff.objects.filter(pk__in=[row.pk for row in rows]).delete()
    return len(rows)


def _bounded(rows):
    limit = settings.HANDOFF_CLAIM_EVENT_IDS.get(rows[0].consumer, CLAIM_EVENT_IDS) if rows else CLAIM_EVENT_IDS
    kept, ids = [], 0
    for row in rows:
        size = len(row.payload) if row.topic == "events" else 1
        if kept and ids + size > limit:
            break
        kept.append(row)
        ids += size
    return kept


def _call(func, team_id, rows):
    if rows[0].topic == "events":
        ids = sorted({pk for row in rows for pk in row.payload})
        func(team_id, ids)
        return
    for row in rows:
        func(team_id, row.payload["kind"], row.payload.get("payload") or {})


def _connection_usable():
    from django.db import connection

    return connection.is_usable()


def _failed(rows, error):
    """Leave the rows for later with a backoff, and say so in one line for the whole chunk."""
    attempts = max(row.attempts for row in rows) + 1
    delay = min(MAX_BACKOFF, timedelta(seconds=5 * 2 ** min(attempts, 12)))
    message = f"{type(error).__name__}: {error}"[:1000]
    Handoff.objects.filter(pk__in=[row.pk for row in rows]).update(
        attempts=attempts, available_at=timezone.now() + delay, last_error=message
    )
    logger.warning(
        "handoff %s: team %s, %d rows failed (attempt %d, retry in %ds): %s",
        rows[0].consumer,
        rows[0].team_id,
        len(rows),
        attempts,
        delay.total_seconds(),
        message,
    )


def backlog():
    """{consumer: seconds since its oldest pending row was written} for the consumers with pending rows."""
    now = timezone.now()
    oldest = Handoff.objects.values("consumer").annotate(first=Min("created_at")).values_list("consumer", "first")
    return {consumer: round((now - first).total_seconds(), 1) for consumer, first in oldest}


def ensure_schedules(**kwargs):
    """A per-minute backstop drain per consumer, on the consumer's cluster (post_migrate)."""
    for topic in TOPICS:
        for path in consumers(topic):
            ensure_schedule(f"handoff: {path}", "accounts.tasks.drain_handoffs", args=[path], route=path)
