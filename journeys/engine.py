"""The journey engine: workers claim due enrollments in batches and advance them. Nothing lost, nothing sent twice.

1. `claim(n)`: in a short transaction, `SELECT ... FOR UPDATE SKIP LOCKED` due rows (state active, next_run_at
   due, no claim) and stamp them with `claimed_until = now + LEASE` (the stamp is also the claim token).
2. `process(claimed)`: in ONE transaction, re-lock exactly the rows still carrying our token, advance each through
   as many immediate nodes as it can (delay and do-not-disturb make it wait), and write the steps, the new
   positions (clearing the claim) and the outbox rows (idempotency key `journey:<enrollment>:<node>`). If the
   worker dies, the transaction rolls back and nothing of the batch is visible.
3. `sweep()`: claims whose lease expired (the worker died between claim and commit) are cleared, so the rows are
   due again. A late worker cannot commit over a re-claim: its token no longer matches.

The engine runs across teams (it is the system's worker); every row it touches carries its own team.
"""

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from accounts import outbound_webhooks
from audiences.conditions import ConditionError, compile_q
from cdp.models import ChannelKind, Contact, Customer, PointsSource
from cdp.services.attributes import set_attributes
from cdp.services.points import adjust_points
from cdp.services.tags import add_tags_bulk, remove_tags_bulk
from messaging.models import ChatbotModule, OutboundMessage, WhatsAppTemplate
from messaging.policy import check_send
from messaging.services.budgets import check_before_batch
from messaging.services.outbox import enqueue_keyed
from messaging.services.processing import TRANSIENT_ERRORS

from . import graph as g
from .models import Enrollment, EnrollmentState, EnrollmentStep, Journey, JourneyChannel, StepOutcome
from .statemachine import JourneyStatus, StatusReason
from .validation import policy_segments

logger = logging.getLogger(__name__)

LEASE = timedelta(seconds=120)
MAX_NODES_PER_PASS = 200
S = JourneyStatus
RUNNING = {S.ACTIVE, S.SCHEDULED, S.TRIGGER_CLOSED, S.DRAFT}


def claim(batch_size=500, now=None):
    now = now or timezone.now()
    token = now + LEASE
    with transaction.atomic():
        ids = list(
            Enrollment.objects.filter(state=EnrollmentState.ACTIVE, next_run_at__lte=now, claimed_until__isnull=True)
            .order_by("next_run_at")
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)[:batch_size]
        )
        if ids:
            Enrollment.objects.filter(pk__in=ids).update(claimed_until=token)
    return ids, token


def sweep(now=None):
    """Make enrollments whose claim expired due again. Returns how many."""
    now = now or timezone.now()
    return Enrollment.objects.filter(claimed_until__lt=now, state=EnrollmentState.ACTIVE).update(claimed_until=None)


def run_batch(batch_size=500, now=None):
    ids, token = claim(batch_size, now=now)
    if not ids:
        return 0
    try:
        return process(ids, token, now=now)
    except Exception:
        # One bad row must not poison the batch forever: retry one by one, failing only the rows that fail.
        logger.exception("Journey batch of %s failed; retrying its enrollments one by one", len(ids))
        steps = 0
        for pk in ids:
            try:
                steps += process([pk], token, now=now)
            except TRANSIENT_ERRORS as error:
                # The database went away (or refused for a passing reason): no fault of this enrollment. It keeps
                # its claim until the lease ends, then runs again (sweep); the next ones go on, on a new connection.
                logger.warning("Enrollment %s left for its next run: %s: %s", pk, type(error).__name__, error)
            except Exception as error:
                logger.exception("Enrollment %s failed", pk)
                Enrollment.objects.filter(pk=pk, claimed_until=token).update(
                    state=EnrollmentState.FAILED,
                    claimed_until=None,
                    next_run_at=None,
                    finished_at=timezone.now(),
                    reason=f"{type(error).__name__}: {error}"[:200],
                )
        return steps


def run(*, max_seconds=50.0, batch_size=500, idle_exit=True):
    """Claim and process batches until nothing is due (or the time budget is spent). Returns steps written."""
    deadline = time.monotonic() + max_seconds
    steps = 0
    while time.monotonic() < deadline:
        done = run_batch(batch_size)
        steps += done
        if not done:
            if idle_exit:
                break
            time.sleep(0.2)
    return steps


@dataclass
class Batch:
    now: object
    journeys: dict = field(default_factory=dict)  # id -> Journey
    compiled: dict = field(default_factory=dict)  # version id -> Compiled
    targets: dict = field(default_factory=dict)  # (journey id, channel id) -> JourneyChannel
    channels: dict = field(default_factory=dict)  # channel id -> Channel
    contacts: dict = field(default_factory=dict)  # (customer id, channel id) -> Contact
    budget: dict = field(default_factory=dict)  # channel id -> exhausted?
    alive: dict = field(default_factory=dict)  # ("module"|"template", id) -> bool
    steps: list = field(default_factory=list)
    webhooks: list = field(default_factory=list)
    stopped: set = field(default_factory=set)  # journeys auto-stopped in this batch
    sent: list = field(default_factory=list)  # (step, team id, outbox idempotency key)


def process(ids, token, now=None):
    """Advance the claimed enrollments; returns the number of steps written."""
    now = now or timezone.now()
    with transaction.atomic():
        rows = list(
            Enrollment.objects.filter(pk__in=ids, claimed_until=token, state=EnrollmentState.ACTIVE)
            .select_for_update()
            .select_related("customer", "version", "team")
        )
        if not rows:
            return 0
        batch = _load(rows, now)
        pending = rows
        for _round in range(MAX_NODES_PER_PASS):
            if not pending:
                break
            pending = _advance_round(batch, pending)
        for enrollment in pending:  # pathological graphs: continue next time
            enrollment.next_run_at = now
        for enrollment in rows:
            enrollment.claimed_until = None
        _save_positions(rows)
        _link_messages(batch)
        EnrollmentStep.objects.bulk_create(batch.steps, batch_size=2000)
        outbound_webhooks.enqueue_many(batch.webhooks)
    if batch.stopped:
        from .services import halt_stopping

        for journey_id in batch.stopped:
            halt_stopping(Journey.objects.get(pk=journey_id))
    return len(batch.steps)


POSITION_FIELDS = ["node", "state", "next_run_at", "claimed_until", "waiting", "finished_at", "reason", "version_id"]


def _save_positions(rows):
    """Write every row's new position in one statement (UPDATE ... FROM (VALUES ...) on PostgreSQL)."""
    if connection.vendor != "postgresql":
        Enrollment.objects.bulk_update(rows, [f.removesuffix("_id") for f in POSITION_FIELDS])
        return
    table = Enrollment._meta.db_table
    values = ", ".join(["(%s, %s, %s, %s::timestamptz, %s::timestamptz, %s, %s::timestamptz, %s, %s)"] * len(rows))
    params = []
    for row in rows:
        params += [
            row.pk,
            row.node,
            row.state,
            row.next_run_at,
            row.claimed_until,
            row.waiting,
            row.finished_at,
            row.reason,
            row.version_id,
        ]
    sets = ", ".join(f"{field} = v.{field}" for field in POSITION_FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS e SET {sets} FROM (VALUES {values}) "  # noqa: S608 - our own table and columns
            f"AS v(id, {', '.join(POSITION_FIELDS)}) WHERE e.id = v.id",
            params,
        )


def _link_messages(batch):
    """Give each message step its outbox row id (one query per team in the batch)."""
    by_team = {}
    for step, team_id, key in batch.sent:
        by_team.setdefault(team_id, {})[key] = step
    for team_id, steps in by_team.items():
        found = OutboundMessage.objects.filter(team_id=team_id, idempotency_key__in=list(steps)).values_list(
            "idempotency_key", "id"
        )
        for key, message_id in found:
            steps[key].message_id = message_id


def _load(rows, now):
    batch = Batch(now=now)
    journey_ids = {row.journey_id for row in rows}
    batch.journeys = {j.pk: j for j in Journey.objects.filter(pk__in=journey_ids).select_related("team")}
    for row in rows:
        if row.version_id not in batch.compiled:
            batch.compiled[row.version_id] = g.compile_graph(row.version.graph)
    for target in JourneyChannel.objects.filter(journey_id__in=journey_ids).select_related("channel"):
        batch.targets[(target.journey_id, target.channel_id)] = target
        batch.channels[target.channel_id] = target.channel
    channel_ids = list(batch.channels)
    teams = {j.team_id: j.team for j in batch.journeys.values()}
    for contact in Contact.objects.filter(
        customer_id__in={row.customer_id for row in rows}, channel_id__in=channel_ids
    ).order_by("customer_id", "channel_id", "status", "-id"):
        key = (contact.customer_id, contact.channel_id)
        contact.channel = batch.channels[contact.channel_id]  # the policy reads these: no query per contact
        contact.team = teams[contact.team_id]
        current = batch.contacts.get(key)
        if current is None or (current.status != "subscribed" and contact.status == "subscribed"):
            batch.contacts[key] = contact
    return batch


def _step(batch, enrollment, node, outcome, reason="", message_id=None):
    batch.steps.append(
        EnrollmentStep(
            team_id=enrollment.team_id,
            enrollment=enrollment,
            version_id=enrollment.version_id,
            node=node["id"],
            node_type=node["type"],
            outcome=outcome,
            reason=str(reason)[:300],
            message_id=message_id,
            at=batch.now,
        )
    )


def _move(enrollment, node, target_id, now):
    """Go to `target_id` (or complete when None); the caller keeps going while the row stays due."""
    enrollment.waiting = False
    if target_id is None:
        enrollment.state = EnrollmentState.COMPLETED
        enrollment.finished_at = now
        enrollment.next_run_at = None
        enrollment.node = ""
        return False
    enrollment.node = target_id
    enrollment.next_run_at = now
    return True


def _halt(batch, enrollment, node, reason):
    enrollment.state = EnrollmentState.HALTED
    enrollment.finished_at = batch.now
    enrollment.next_run_at = None
    enrollment.waiting = False
    enrollment.reason = str(reason)[:200]
    if node is not None:
        _step(batch, enrollment, node, StepOutcome.HALTED, reason)


# A customer merged away moments ago: the journeys' hand-off is about to move its enrollments to the survivor
# (services.follow_merge). Its enrollments wait for that rather than run on a customer without contacts.
MERGE_WAIT = timedelta(seconds=30)
MERGE_GRACE = timedelta(minutes=15)


def _merge_pending(enrollment, now):
    customer = enrollment.customer
    return customer.merged_into_id is not None and customer.updated_at > now - MERGE_GRACE


def _advance_round(batch, pending):
    """Execute the current node of every pending enrollment; return those that can go on immediately."""
    still = []
    groups = {}
    for enrollment in pending:
        journey = batch.journeys[enrollment.journey_id]
        compiled = batch.compiled[enrollment.version_id]
        node = compiled.nodes.get(enrollment.node)
        if journey.status not in RUNNING:
            _halt(batch, enrollment, node, "journey stopped")
            continue
        if _merge_pending(enrollment, batch.now):
            enrollment.next_run_at = batch.now + MERGE_WAIT  # no step: it goes on as the survivor's, just later
            continue
        if node is None:
            enrollment.state = EnrollmentState.FAILED
            enrollment.reason = "node missing from version"
            enrollment.finished_at = batch.now
            enrollment.next_run_at = None
            continue
        groups.setdefault((node["type"], enrollment.version_id, node["id"]), []).append((enrollment, node))
    for (kind, _version, _node), items in groups.items():
        handler = HANDLERS[kind]
        still += handler(batch, items)
    return still


# ---------------------------------------------------------------- node handlers


def _delay(batch, items):
    out = []
    for enrollment, node in items:
        if enrollment.waiting:  # the wait is over
            if _move(enrollment, node, node["next"], batch.now):
                out.append(enrollment)
            continue
        config = node["config"]
        wait = timedelta(
            days=int(config.get("days") or 0),
            hours=int(config.get("hours") or 0),
            minutes=int(config.get("minutes") or 0),
        )
        enrollment.waiting = True
        enrollment.next_run_at = batch.now + wait
        _step(batch, enrollment, node, StepOutcome.DONE, f"until {enrollment.next_run_at.isoformat()}")
    return out


def _split(batch, items):
    """audiences' condition language, evaluated now for the arriving customers: the same compiler as
    customer_matches, run once for the whole group (one query)."""
    out = []
    node0 = items[0][1]
    team = items[0][0].team
    try:
        q = compile_q(team, node0["config"].get("conditions") or {}, base="customer", now=batch.now)
    except ConditionError as error:  # the tree no longer validates (e.g. an archived attribute)
        if _names_attribute(node0["config"].get("conditions"), error.path):
            # Seed 002: an archived or retyped attribute stops the journey (the signal usually got there first).
            journey = batch.journeys[items[0][0].journey_id]
            _auto_stop(batch, journey, StatusReason.ATTRIBUTE_UNAVAILABLE)
            for enrollment, node in items:
                _halt(batch, enrollment, node, StatusReason.ATTRIBUTE_UNAVAILABLE.label)
            return []
        matched, failure = set(), str(error)
    else:
        failure = ""
        ids = [enrollment.customer_id for enrollment, _node in items]
        matched = set(Customer.objects.for_team(team).filter(pk__in=ids).filter(q).values_list("pk", flat=True))
    for enrollment, node in items:
        yes = enrollment.customer_id in matched
        if failure:
            _step(batch, enrollment, node, StepOutcome.FAILED, failure)
        else:
            _step(batch, enrollment, node, StepOutcome.YES if yes else StepOutcome.NO)
        if _move(enrollment, node, node["yes"] if yes else node["no"], batch.now):
            out.append(enrollment)
    return out


def _names_attribute(tree, path):
    """Whether a ConditionError's path ("conditions.children[1].children[0].op") points into an attribute
    condition of `tree`."""
    node = tree
    for part in str(path).split(".")[1:]:
        if not (part.startswith("children[") and part.endswith("]") and isinstance(node, dict)):
            break
        children = node.get("children") or []
        index = part[len("children[") : -1]
        if not index.isdigit() or int(index) >= len(children):
            return False
        node = children[int(index)]
    return isinstance(node, dict) and node.get("type") == "attribute"


def _tags(batch, items):
    out = []
    config = items[0][1]["config"]
    add = [name for name in config.get("add") or [] if name]
    remove = [name for name in config.get("remove") or [] if name]
    enrollment0 = items[0][0]
    customer_ids = [e.customer_id for e, _n in items]
    if add:
        add_tags_bulk(team=enrollment0.team, customer_ids=customer_ids, names=add, source="journey")
    if remove:
        remove_tags_bulk(team=enrollment0.team, customer_ids=customer_ids, names=remove, source="journey")
    for enrollment, node in items:
        _step(batch, enrollment, node, StepOutcome.DONE)
        if _move(enrollment, node, node["next"], batch.now):
            out.append(enrollment)
    return out


def _attribute(batch, items):
    out = []
    for enrollment, node in items:
        journey = batch.journeys[enrollment.journey_id]
        key, value = node["config"].get("key"), node["config"].get("value") or ""
        try:
            with transaction.atomic():
                changed = set_attributes(customer=enrollment.customer, values={key: value}, source="journey")
        except ValidationError as error:
            _auto_stop(batch, journey, StatusReason.ATTRIBUTE_UNAVAILABLE)
            _halt(batch, enrollment, node, "; ".join(error.messages))
            continue
        _step(batch, enrollment, node, StepOutcome.DONE)
        team = journey.team
        if changed and team.outbound_webhook_url:
            batch.webhooks.append(
                (
                    team.pk,
                    {
                        "type": "customer.attribute_changed",
                        "customer_id": enrollment.customer_id,
                        "member_id": enrollment.customer.member_id,
                        "key": key,
                        "value": value,
                        "source": "journey",
                        "journey_id": journey.pk,
                        "occurred_at": batch.now.isoformat(),
                    },
                )
            )
        if _move(enrollment, node, node["next"], batch.now):
            out.append(enrollment)
    return out


def _points(batch, items):
    out = []
    for enrollment, node in items:
        config = node["config"]
        amount = int(config.get("amount") or 0)
        delta = amount if config.get("op") == "add" else -amount
        try:
            with transaction.atomic():
                adjust_points(
                    customer=enrollment.customer,
                    delta=delta,
                    reason=f"journey:{enrollment.journey_id}",
                    source=PointsSource.JOURNEY,
                    # One change per enrollment and node, however often a crashed batch is run again.
                    idempotency_key=f"journey:{enrollment.pk}:{node['id']}",
                )
        except ValidationError as error:
            _step(batch, enrollment, node, StepOutcome.FAILED, "; ".join(error.messages))
        else:
            _step(batch, enrollment, node, StepOutcome.DONE)
        if _move(enrollment, node, node["next"], batch.now):
            out.append(enrollment)
    return out


def _auto_stop(batch, journey, reason):
    from .services import auto_change

    auto_change(journey, reason, now=batch.now)
    batch.journeys[journey.pk] = journey
    batch.stopped.add(journey.pk)


def content_for(config):
    """A message node's config → outbox content (validated at publish by validation._validate_message)."""
    if config.get("kind") == "wechat_template":
        content = {"type": "wechat_template", "template_id": str(config.get("template_id") or "")}
        content["data"] = dict(config.get("data") or {})
        return {**content, "url": config["url"]} if config.get("url") else content
    if config.get("kind") == "whatsapp_template":
        return {
            "type": "whatsapp_template",
            "template_id": int(config.get("template_id") or 0),
            "parameters": [str(p) for p in config.get("parameters") or []],
        }
    return {"type": "module", "module_id": int(config.get("module_id") or 0)}


def _alive(batch, content, team):
    if content["type"] == "wechat_template":  # kept on WeChat's side: nothing of ours can be deleted
        return True
    if content["type"] == "whatsapp_template":
        key = ("template", content["template_id"])
        if key not in batch.alive:
            batch.alive[key] = WhatsAppTemplate.objects.filter(
                team=team, pk=content["template_id"], deleted_at__isnull=True
            ).exists()
    else:
        key = ("module", content["module_id"])
        if key not in batch.alive:
            batch.alive[key] = ChatbotModule.objects.filter(
                team=team, pk=content["module_id"], deleted_at__isnull=True
            ).exists()
    return batch.alive[key]


def _exhausted(batch, channel):
    """Read once per batch, fresh (LINE quota re-read, WhatsApp prepaid balance checked): a journey stops when
    none is left, not only after a send failed."""
    if channel.pk not in batch.budget:
        batch.budget[channel.pk] = check_before_batch(channel)
    return batch.budget[channel.pk]


def _reserve(target):
    """Count one message toward the journey's cap on this channel; False when the cap is reached."""
    if target.message_cap is None:
        return True
    from django.db.models import F

    updated = JourneyChannel.objects.filter(pk=target.pk, messages_counted__lt=target.message_cap).update(
        messages_counted=F("messages_counted") + 1
    )
    return bool(updated)


def _message(batch, items):
    out = []
    sends = {}  # (team, channel, content, journey) -> [(contact id, key)]: one bulk INSERT per group
    for enrollment, node in items:
        journey = batch.journeys[enrollment.journey_id]
        if journey.status not in RUNNING:
            _halt(batch, enrollment, node, "journey stopped")
            continue
        config = node["config"]
        channel_id = int(config.get("channel_id") or 0)
        target = batch.targets.get((journey.pk, channel_id))
        channel = batch.channels.get(channel_id)
        content = content_for(config)
        if enrollment.holdout:
            _step(batch, enrollment, node, StepOutcome.HELD_OUT)
        elif target is None or channel is None:
            _step(batch, enrollment, node, StepOutcome.SKIPPED, "channel is not a target of the journey")
        elif not _alive(batch, content, journey.team):
            reason = (
                StatusReason.TEMPLATE_DELETED if content["type"] == "whatsapp_template" else StatusReason.MODULE_DELETED
            )
            _auto_stop(batch, journey, reason)
            _halt(batch, enrollment, node, StatusReason(reason).label)
            continue
        else:
            contact = batch.contacts.get((enrollment.customer_id, channel_id))
            if contact is None:
                _step(batch, enrollment, node, StepOutcome.SKIPPED, "no contact on this channel")
            else:
                if _exhausted(batch, channel):
                    reason = (
                        StatusReason.WHATSAPP_BALANCE_ZERO
                        if channel.kind == ChannelKind.WHATSAPP
                        else StatusReason.LINE_QUOTA_EXHAUSTED
                    )
                    _auto_stop(batch, journey, reason)
                    _halt(batch, enrollment, node, StatusReason(reason).label)
                    continue
                decision = check_send(
                    contact=contact,
                    content=content,
                    now=batch.now,
                    dnd_segments=policy_segments(journey.dnd_segments),
                    budget_exhausted=False,  # read once per batch just above
                )
                if decision.action == "defer":
                    if not enrollment.waiting:
                        _step(batch, enrollment, node, StepOutcome.DEFERRED, decision.reason)
                    enrollment.waiting = True
                    enrollment.next_run_at = decision.until
                    continue
                if decision.action == "skip":
                    _step(batch, enrollment, node, StepOutcome.SKIPPED, decision.reason)
                else:
                    if not _reserve(target):
                        reason = (
                            StatusReason.WHATSAPP_CAP_REACHED
                            if channel.kind == ChannelKind.WHATSAPP
                            else StatusReason.LINE_CAP_REACHED
                        )
                        _auto_stop(batch, journey, reason)
                        _halt(batch, enrollment, node, StatusReason(reason).label)
                        continue
                    # One row, keyed by enrollment + node (+ the contact, fixed for that pair): exactly once.
                    key = f"journey:{enrollment.pk}:{node['id']}:{contact.pk}"
                    group = (journey.team_id, channel.pk, json.dumps(content, sort_keys=True), journey.pk)
                    sends.setdefault(group, (journey.team, channel, content, []))[3].append((contact.pk, key))
                    _step(batch, enrollment, node, StepOutcome.SENT)
                    batch.sent.append((batch.steps[-1], journey.team_id, key))
        if _move(enrollment, node, node["next"], batch.now):
            out.append(enrollment)
    _enqueue_sends(sends)
    return out


def _enqueue_sends(sends):
    for (_team_id, _channel_id, _content, journey_id), (team, channel, content, items) in sends.items():
        enqueue_keyed(
            team=team, channel=channel, items=items, content=content, origin="journey", origin_id=str(journey_id)
        )


HANDLERS = {
    "delay": _delay,
    "split": _split,
    "tags": _tags,
    "attribute": _attribute,
    "points": _points,
    "message": _message,
}
