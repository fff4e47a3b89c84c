"""process(): claim the receipts, apply each event (or a run of them) in its savepoint, report the outcome."""

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from ...events import batched_notifications
from ...models import (
    EventReceipt,
)
from .batched import Fallback, FastRun
from .checks import (
    ACCEPTED,
    DUPLICATE,
    Batch,
    Outcome,
    Rejected,
    _check_event,
    _data_errors,
    check_body,
    rejection_code,
)
from .handlers import apply_event


def process(team, body):
    """Apply a request body; raises BadBody for a 400, otherwise returns the Outcome.

    Receipts of every well-formed new id are claimed in one INSERT (an id another request holds is a duplicate);
    the receipts of ids that end up rejected are deleted again before commit, so a corrected event can be resent.
    Runs of member.identify (without attributes) and binding events are applied together by FastRun (a few
    set-based queries per run, decided in memory under the same locks); any other type is applied alone in its
    own savepoint. If a run meets a race (a unique-constraint error) it is rolled back and applied event by event.
    """
    events = check_body(body)
    batch = Batch(team, events)
    items = []
    results = [None] * len(events)
    for index, event in enumerate(events):
        event_id = event.get("id") if isinstance(event, dict) else None
        try:
            items.append(Item(index, *_check_event(batch, event)))
        except Rejected as exc:
            results[index] = (event_id, exc.errors, exc.code)
    with transaction.atomic(), batched_notifications():
        fresh = {}
        for item in items:
            if item.event_id not in batch.seen:
                fresh.setdefault(item.event_id, item.type)
        claimed = _claim_many(team, fresh, batch.now)
        accepted = set()
        run = []
        for item in items:
            if item.event_id in batch.seen or item.event_id not in claimed:
                results[item.index] = DUPLICATE  # seen before, or received concurrently by another request
            elif FastRun.handles(item):
                run.append(item)
            else:
                _apply_run(batch, run, accepted, results)
                run = []
                _apply_one(batch, item, accepted, results)
        _apply_run(batch, run, accepted, results)
        unused = [event_id for event_id in claimed if event_id not in accepted]
        if unused:
            EventReceipt.objects.for_team(team).filter(event_id__in=unused).delete()
    outcome = Outcome()
    for index, result in enumerate(results):
        if result == ACCEPTED:
            outcome.accepted += 1
        elif result == DUPLICATE:
            outcome.duplicates += 1
        else:
            event_id, errors, code = result
            outcome.rejected.append({"index": index, "id": event_id, "errors": errors, "code": code})
    return outcome


@dataclass
class Item:
    index: int
    event_id: str
    type: str
    occurred_at: dt.datetime
    data: dict


def _apply_one(batch, item, accepted, results):
    """One event in its own savepoint: applied whole or not at all."""
    if item.event_id in accepted:
        results[item.index] = DUPLICATE
        return
    contacts_before = dict(batch.contacts)
    try:
        with transaction.atomic():
            apply_event(batch, item.type, item.occurred_at, item.data)
    except Rejected as exc:
        batch.contacts = contacts_before
        results[item.index] = (item.event_id, exc.errors, exc.code)
        return
    except ValidationError as exc:
        batch.contacts = contacts_before
        errors = _data_errors(exc)
        results[item.index] = (item.event_id, errors, rejection_code(errors, exc))
        return
    accepted.add(item.event_id)
    results[item.index] = ACCEPTED


def _apply_run(batch, run, accepted, results):
    if not run:
        return
    accepted_before, contacts_before = set(accepted), dict(batch.contacts)
    try:
        with transaction.atomic():
            FastRun(batch).apply(run, accepted, results)
    except (IntegrityError, Fallback):
        # A race with another writer (or a state the fast path does not model): redo the run event by event.
        accepted.clear()
        accepted.update(accepted_before)
        batch.contacts = contacts_before
        for item in run:
            _apply_one(batch, item, accepted, results)


def _claim_many(team, types_by_id, now):
    """Insert the receipts of the given ids unless known (one statement). Returns the ids this call claimed."""
    if not types_by_id:
        return set()
    table = EventReceipt._meta.db_table
    claimed = set()
    rows = list(types_by_id.items())
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 500):
            chunk = rows[start : start + 500]
            cursor.execute(
                f"INSERT INTO {table} (team_id, event_id, type, received_at) VALUES "
                + ", ".join(["(%s, %s, %s, %s)"] * len(chunk))
                + " ON CONFLICT (team_id, event_id) DO NOTHING RETURNING event_id",
                [value for event_id, type_ in chunk for value in (team.pk, event_id, type_, now)],
            )
            claimed.update(row[0] for row in cursor.fetchall())
    return claimed
