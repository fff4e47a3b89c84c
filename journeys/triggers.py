"""Triggers (seed 002 §1-8): which CustomerEvents start which journeys, and enrolling customers in bulk.

Mapping from CustomerEvent type to trigger type:
- checkout_completed → checkout_completed (item name contains / amount ≥ / ≤)
- contact_created on one of the journey's target channels → new_contact
- tag_added {"tag"} → tag_added (any of the journey's tags: 「貼上任一標籤」)
- attribute_changed {"key", "new"} → attribute_changed (which key, optionally to what value)
- system {"name"} (POST /api/v1/events `system.<name>`) → system (which name)
- coupon_claimed {"campaign"} (a coupons claim) → system named coupon_claimed, 「領取優惠券」 (optionally one campaign)

Limits are enforced by the database: the per-customer limit by a TriggerCounter row incremented with a
conditional UPDATE (`... WHERE count < limit`), the plan's total limit by a locked Journey row. A redelivered
event never enrols twice (unique (journey, trigger_event)).
"""

import random
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts import queues
from cdp.models import Contact, CustomerEvent, EventType

from . import graph as g
from .models import Enrollment, Journey, JourneyChannel, TriggerCounter, TriggerType, normalize_trigger_config
from .statemachine import JourneyStatus, StatusReason

EVENT_TRIGGER = {
    EventType.CHECKOUT_COMPLETED: TriggerType.CHECKOUT_COMPLETED,
    EventType.CONTACT_CREATED: TriggerType.NEW_CONTACT,
    EventType.TAG_ADDED: TriggerType.TAG_ADDED,
    EventType.ATTRIBUTE_CHANGED: TriggerType.ATTRIBUTE_CHANGED,
    EventType.SYSTEM: TriggerType.SYSTEM,
    EventType.COUPON_CLAIMED: TriggerType.SYSTEM,  # the system trigger 「領取優惠券」 (name coupon_claimed)
}
COUPON_CLAIMED = "coupon_claimed"


def _decimal(value):
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def matches(journey, event, target_channel_ids):
    """Whether `event` fires `journey`'s trigger."""
    config = journey.trigger_config or {}
    data = event.data or {}
    kind = journey.trigger_type
    if EVENT_TRIGGER.get(event.type) != kind:
        return False
    if kind == TriggerType.CHECKOUT_COMPLETED:
        needle = (config.get("item_name_contains") or "").strip().casefold()
        if needle and not any(needle in str(item.get("name", "")).casefold() for item in data.get("items") or []):
            return False
        amount = _decimal(data.get("amount"))
        low, high = _decimal(config.get("amount_gte")), _decimal(config.get("amount_lte"))
        if (low is not None or high is not None) and amount is None:
            return False
        if low is not None and amount < low:
            return False
        return not (high is not None and amount > high)
    if kind == TriggerType.NEW_CONTACT:
        return event.channel_id in target_channel_ids
    if kind == TriggerType.TAG_ADDED:
        return data.get("tag") in normalize_trigger_config(kind, config)["tags"]
    if kind == TriggerType.ATTRIBUTE_CHANGED:
        if data.get("key") != config.get("key"):
            return False
        wanted = config.get("value")
        return wanted in (None, "") or str(data.get("new")) == str(wanted)
    if kind == TriggerType.SYSTEM and event.type == EventType.COUPON_CLAIMED:
        # 「領取優惠券」: any campaign, or the one named by config["campaign"].
        wanted = config.get("campaign")
        return config.get("name") == COUPON_CLAIMED and (not wanted or str(data.get("campaign")) == str(wanted))
    if kind == TriggerType.SYSTEM:
        return data.get("name") == config.get("name")
    return False


def fire_events(team, event_ids, *, now=None):
    """Enrol customers for every live journey whose trigger these events fire. Idempotent. Returns the count."""
    now = now or timezone.now()
    live = Journey.objects.for_team(team).filter(status=JourneyStatus.ACTIVE, current_version__isnull=False)
    kinds = set(live.values_list("trigger_type", flat=True))
    if not kinds:
        return 0  # most teams most of the time: no event to read (an import's hand-off is 6,667 ids a chunk)
    types = [event_type for event_type, trigger in EVENT_TRIGGER.items() if trigger in kinds]
    events = list(
        CustomerEvent.objects.for_team(team)
        .filter(pk__in=list(event_ids), type__in=types)
        .select_related("customer")
        .order_by("occurred_at", "id")
    )
    if not events:
        return 0
    kinds = {EVENT_TRIGGER[e.type] for e in events}
    journeys = list(live.filter(trigger_type__in=kinds).select_related("current_version"))
    total = 0
    for journey in journeys:
        targets = list(JourneyChannel.objects.filter(journey=journey).values_list("channel_id", flat=True))
        fired = [e for e in events if matches(journey, e, set(targets))]
        if fired:
            total += enroll(journey, fired, targets, now=now)
    return total


def _contacts_for(team, customer_ids, channel_ids):
    """customer_id -> best contact on a target channel (subscribed first, most recent interaction)."""
    best = {}
    rows = (
        Contact.objects.for_team(team)
        .filter(customer_id__in=customer_ids, channel_id__in=channel_ids)
        .order_by("customer_id", "status", F("last_customer_interaction_at").desc(nulls_last=True), "-id")
        .values_list("customer_id", "id", "status")
    )
    for customer_id, contact_id, status in rows:
        current = best.get(customer_id)
        if current is None or (current[1] != "subscribed" and status == "subscribed"):
            best[customer_id] = (contact_id, status)
    return {customer_id: value[0] for customer_id, value in best.items()}


def enroll(journey, events, target_channel_ids, *, now=None):
    """Create enrollments for `events` (already matched) in bulk, within the journey's limits."""
    now = now or timezone.now()
    for attempt in range(2):
        try:
            return _enroll(journey, events, target_channel_ids, now)
        except IntegrityError:
            # A concurrent delivery of the same events won the race; retry once with what is left.
            if attempt:
                raise
    return 0


def _enroll(journey, events, target_channel_ids, now):
    team = journey.team
    with transaction.atomic():
        already = set(
            Enrollment.objects.for_team(team)
            .filter(journey=journey, trigger_event_id__in=[e.pk for e in events])
            .values_list("trigger_event_id", flat=True)
        )
        events = [e for e in events if e.pk not in already]
        customer_ids = list({e.customer_id for e in events})
        contacts = _contacts_for(team, customer_ids, target_channel_ids)
        candidates = []
        for event in events:
            # The event's own contact when it has one on a target channel; otherwise (a tag or system event that
            # named the customer through a channel reference or a member id records no contact) the customer's
            # best contact on the journey's target channels.
            own = event.contact_id if event.channel_id in target_channel_ids else None
            contact_id = own or contacts.get(event.customer_id)
            if contact_id is None:
                continue  # a customer with no contact on a target channel cannot take this journey
            candidates.append((event, contact_id))
        if not candidates:
            return 0
        if journey.per_customer_limit:
            candidates = _admit_per_customer(journey, candidates)
        locked = Journey.objects.select_for_update().get(pk=journey.pk)
        if locked.status != JourneyStatus.ACTIVE:
            return 0
        close = False
        if locked.max_triggers is not None:
            room = max(0, locked.max_triggers - locked.trigger_count)
            if len(candidates) >= room:
                candidates, close = candidates[:room], True
        if candidates:
            Journey.objects.filter(pk=locked.pk).update(trigger_count=F("trigger_count") + len(candidates))
        version = locked.current_version
        start = g.compile_graph(version.graph).start
        pct = locked.holdout_percent or 0
        rows = [
            Enrollment(
                team=team,
                journey=locked,
                version=version,
                customer_id=event.customer_id,
                contact_id=contact_id,
                trigger_event=event,
                node=start or "",
                state="active" if start else "completed",
                next_run_at=now if start else None,
                finished_at=None if start else now,
                holdout=bool(pct) and random.random() * 100 < pct,  # noqa: S311 - sampling, not security
                entered_at=now,
            )
            for event, contact_id in candidates
        ]
        Enrollment.objects.bulk_create(rows, batch_size=2000)
        if close:
            from .services import auto_change

            auto_change(locked, StatusReason.TRIGGER_LIMIT_REACHED, now=now)
        if rows:
            transaction.on_commit(wake_engine)
        return len(rows)


def _admit_per_customer(journey, candidates):
    """Conditional UPDATE per (journey, customer): count = count + 1 WHERE count < limit. Rounds handle a customer
    appearing several times in one batch."""
    team = journey.team
    limit = journey.per_customer_limit
    customer_ids = list({event.customer_id for event, _c in candidates})
    TriggerCounter.objects.bulk_create(
        [TriggerCounter(team=team, journey=journey, customer_id=pk, count=0) for pk in customer_ids],
        ignore_conflicts=True,
        batch_size=2000,
    )
    rounds = {}
    for item in candidates:
        rounds.setdefault(item[0].customer_id, []).append(item)
    admitted = []
    table = TriggerCounter._meta.db_table
    depth = max(len(items) for items in rounds.values())
    for index in range(depth):
        wanted = [customer_id for customer_id, items in rounds.items() if len(items) > index]
        placeholders = ", ".join(["%s"] * len(wanted))
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET count = count + 1 "  # noqa: S608 - table name is ours, values are bound
                f"WHERE team_id = %s AND journey_id = %s AND count < %s AND customer_id IN ({placeholders}) "
                "RETURNING customer_id",
                [team.pk, journey.pk, limit, *wanted],
            )
            ok = {row[0] for row in cursor.fetchall()}
        admitted += [rounds[customer_id][index] for customer_id in wanted if customer_id in ok]
    return admitted


_engine_hint = queues.Hint("journeys.tasks.run_engine")


def wake_engine():
    """A hint only: the scheduled runner finds due rows anyway."""
    from django.conf import settings

    if getattr(settings, "JOURNEYS_WAKE_ENGINE", True):
        _engine_hint()
