"""The outbox: every send is first a committed row; workers claim rows, call the adapter, record the outcome.

Crash safety. A row is claimed (status `sending`, `claimed_until` = now + MESSAGING_CLAIM_SECONDS) in its own
short transaction, then the provider is called, then the outcome is written with a conditional UPDATE. A
worker that dies after claiming leaves the row `sending`; `sweep()` re-queues it once the claim expires and
the next attempt re-sends with the same `retry_key`. LINE receives it as `X-Line-Retry-Key`, so a message
that did reach LINE before the crash is accepted once (409 + x-line-accepted-request-id = success). Nothing is
lost (the row stays until an outcome is recorded) and LINE never duplicates. Meta and WhatsApp have no
idempotency header: for them a crash in the few milliseconds between the platform's answer and our UPDATE
can re-send once.

Multicast. Plain-text rows enqueued together on LINE (enqueue_many) share a `multicast_group`; the worker
sends each claimed group with one multicast call whose retry key is derived from the group and its row ids.
Modules are pushed one by one: their tracked links and open pixels are per send.
"""

import logging
import uuid
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts import notify
from accounts.queues import Hint
from cdp.services.contacts import record_interactions, set_unsubscribed

from .. import adapters
from ..adapters.line import MULTICAST_MAX
from ..models import OutboundMessage, OutboundStatus, TemplateStatus, WhatsAppTemplate
from . import budgets, inbox_state, sms_billing
from .channels import receipt_url
from .content import ContentError, render

logger = logging.getLogger(__name__)

INTERACTION_KIND = {"broadcast": "team_marketing", "journey": "team_marketing", "agent": "team"}


# Sends committed in a burst (a broadcast batch, a journey batch) need one dispatch task, not one each.
_hint_dispatch = Hint(
    "messaging.tasks.dispatch_outbox", interval_setting="MESSAGING_OUTBOX_HINT_SECONDS", drain="outbox"
)


def enqueue(
    *,
    team,
    channel,
    contact,
    content,
    origin,
    origin_id,
    idempotency_key,
    send_after=None,
    reply_token="",
    reply_token_expires_at=None,
    recipient="",
):
    """Write one outbox row in the caller's transaction (idempotent by key); dispatch is hinted on commit.

    `reply_token` (LINE): the webhook event's replyToken; while it is valid the worker answers with the free
    reply API instead of a push. `recipient` (SMS): the E.164 number, when it is not the contact's channel id.
    """
    message, created = OutboundMessage.objects.get_or_create(
        team=team,
        idempotency_key=idempotency_key,
        defaults={
            "channel": channel,
            "contact": contact,
            "content": content,
            "origin": origin,
            "origin_id": str(origin_id or ""),
            "next_attempt_at": send_after or timezone.now(),
            "reply_token": reply_token or "",
            "reply_token_expires_at": reply_token_expires_at if reply_token else None,
            "recipient": recipient or "",
        },
    )
    if created:
        inbox_state.record_outbound(message.team_id, [message.contact_id], message.created_at)
        transaction.on_commit(_hint_dispatch)
    return message, created


def enqueue_many(*, team, channel, contacts_or_ids, content, origin, origin_id, key_prefix, send_after=None):
    """Bulk form: one row per contact, key `<key_prefix>:<contact id>`; duplicates are ignored. Returns new rows."""
    contact_ids = sorted({getattr(c, "pk", c) for c in contacts_or_ids})
    items = [(cid, f"{key_prefix}:{cid}") for cid in contact_ids]
    return enqueue_keyed(
        team=team,
        channel=channel,
        items=items,
        content=content,
        origin=origin,
        origin_id=origin_id,
        send_after=send_after,
    )


def enqueue_keyed(*, team, channel, items, content, origin, origin_id, send_after=None):
    """Rows for (contact id, idempotency key) pairs in a few statements; known keys are ignored. Returns new rows.

    For senders whose key is not per contact alone (a journey's enrollment + node), so a whole batch of them is
    still one lookup and one bulk INSERT."""
    if not items:
        return 0
    existing = set()
    chunk = 5000
    for i in range(0, len(items), chunk):
        part = [key for _cid, key in items[i : i + chunk]]
        found = OutboundMessage.objects.filter(team=team, idempotency_key__in=part)
        existing.update(found.values_list("idempotency_key", flat=True))
    now = timezone.now()
    multicast = channel.kind == "line" and (content or {}).get("type") == "text" and not channel.is_sandbox
    rows = []
    group = None
    seen = set()
    for cid, key in items:
        if key in existing or key in seen:
            continue
        seen.add(key)
        if multicast and len(rows) % MULTICAST_MAX == 0:
            group = uuid.uuid4()
        rows.append(
            OutboundMessage(
                team=team,
                channel=channel,
                contact_id=cid,
                content=content,
                origin=origin,
                origin_id=str(origin_id or ""),
                idempotency_key=key,
                multicast_group=group if multicast else None,
                next_attempt_at=send_after or now,
            )
        )
    OutboundMessage.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
    if rows:
        inbox_state.record_outbound(team.pk, {row.contact_id for row in rows}, now)
        transaction.on_commit(_hint_dispatch)
    return len(rows)


# ------------------------------------------------------------------------------------------------ worker
def claim(batch_size=100, now=None):
    """Claim due queued rows (skip_locked on PostgreSQL) and mark them sending with a claim expiry."""
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            OutboundMessage.objects.select_for_update(skip_locked=True)
            .filter(status=OutboundStatus.QUEUED, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")
            .values_list("id", flat=True)[:batch_size]
        )
        if ids:
            OutboundMessage.objects.filter(id__in=ids).update(
                status=OutboundStatus.SENDING,
                claimed_until=now + timedelta(seconds=settings.MESSAGING_CLAIM_SECONDS),
                attempts=F("attempts") + 1,
            )
    return list(OutboundMessage.objects.filter(id__in=ids).select_related("channel", "contact", "team").order_by("id"))


def sweep(now=None):
    """Re-queue rows whose claim expired (their worker died). Returns how many."""
    now = now or timezone.now()
    return OutboundMessage.objects.filter(status=OutboundStatus.SENDING, claimed_until__lt=now).update(
        status=OutboundStatus.QUEUED, claimed_until=None, next_attempt_at=now
    )


def dispatch(batch_size=100, now=None, max_batches=None):
    """Claim and send batches until none is due. Returns the number of rows handled."""
    handled = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        messages = claim(batch_size, now)
        if not messages:
            break
        send_claimed(messages)
        handled += len(messages)
        batches += 1
    return handled


def send_claimed(messages):
    sent_contacts = defaultdict(list)
    groups = defaultdict(list)
    singles = []
    for message in messages:
        if message.multicast_group and message.channel.kind == "line" and not message.channel.is_sandbox:
            groups[(message.channel_id, message.multicast_group)].append(message)
        else:
            singles.append(message)
    for group in groups.values():
        _send_group(group, sent_contacts)
    for message in singles:
        _send_one(message, sent_contacts)
    now = timezone.now()
    for kind, contact_ids in sent_contacts.items():
        record_interactions(contact_ids, kind=kind, occurred_at=now)


def _precheck(message):
    channel = message.channel
    if not channel.is_active:
        mark_failed(message, "channel_disabled", "channel disabled")
        return False
    if budgets.is_exhausted(channel):
        mark_failed(message, "budget_exhausted", "channel message budget exhausted")
        return False
    return True


def _send_one(message, sent_contacts):
    if not _precheck(message):
        return
    try:
        rendered = render(message, message.channel.kind)
    except ContentError as exc:
        mark_failed(message, exc.code, exc.reason)
        return
    OutboundMessage.objects.filter(pk=message.pk).update(
        trackable=rendered.trackable,
        links={"urls": rendered.urls, "images": rendered.images},
        preview=rendered.preview,
    )
    adapter = adapters.get_adapter(message.channel, status_callback=receipt_url(message.channel))
    payload = rendered.payload
    if message.channel.kind == "facebook":
        payload = messenger_payload(message.contact, payload, timezone.now())
    result = None
    if message.reply_token and message.channel.kind == "line" and not message.channel.is_sandbox:
        result = _try_reply(message, adapter, payload)
    if result is None:
        recipient = message.recipient or message.contact.external_id
        result = adapter.send(recipient=recipient, payload=payload, retry_key=message.retry_key)
    _apply(message, result, sent_contacts)
    if result.ok and message.channel.is_sandbox and message.channel.kind != "sms":
        from .sandbox import simulate

        simulate(message)


MESSENGER_WINDOW = timedelta(hours=24)


def messenger_payload(contact, payload, now):
    """Outside the 24-hour window, a contact opted in to recurring notifications is addressed by its
    notification_messages_token (Meta's format: no messaging_type); otherwise the PSID as a RESPONSE."""
    last = contact.last_customer_interaction_at
    inside = last is not None and now - last <= MESSENGER_WINDOW
    if not inside and contact.fb_recurring_optin and contact.fb_recurring_token:
        return {
            **payload,
            "recipient": {"notification_messages_token": contact.fb_recurring_token},
            "messaging_type": None,
        }
    return payload


INVALID_REPLY_TOKEN = "Invalid reply token"


def _try_reply(message, adapter, payload):
    """LINE's free reply API while the webhook's reply token is valid; None means "push instead".

    A reply token is single use and the reply API takes no retry key. On a re-attempt (the previous worker
    died), "Invalid reply token" while the token has not expired means our first attempt consumed it: the
    reply was delivered, so it counts as sent rather than being pushed a second time.
    """
    now = timezone.now()
    if message.reply_token_expires_at is None or now >= message.reply_token_expires_at:
        return None
    result = adapter.reply(reply_token=message.reply_token, payload=payload)
    if result.ok:
        return result
    if message.attempts > 1 and result.error_code == "400" and INVALID_REPLY_TOKEN in result.error_reason:
        return adapters.SendResult.success("", reply=True, reply_token_consumed=True)
    logger.info("LINE reply for message %s failed (%s); pushing instead", message.pk, result.error_reason)
    return None


def _send_group(group, sent_contacts):
    first = group[0]
    if not _precheck(first):
        for message in group[1:]:
            mark_failed(message, "budget_exhausted", "channel message budget exhausted")
        return
    try:
        rendered = render(first, "line")
    except ContentError as exc:
        for message in group:
            mark_failed(message, exc.code, exc.reason)
        return
    OutboundMessage.objects.filter(pk__in=[m.pk for m in group]).update(preview=rendered.preview)
    ids = ",".join(str(m.pk) for m in sorted(group, key=lambda m: m.pk))
    retry_key = uuid.uuid5(first.multicast_group, ids)
    adapter = adapters.get_adapter(first.channel)
    result = adapter.multicast(
        recipients=[m.contact.external_id for m in group], payload=rendered.payload, retry_key=retry_key
    )
    for message in group:
        _apply(message, result, sent_contacts)


def send_cost(channel, *, reply=False):
    """(cost, currency) of one successful send, recorded on its row; every report sums the rows.

    The team's per-message price on LINE and WhatsApp; nothing for LINE's reply API (free), the other platforms,
    or the sandbox, which only simulates the send."""
    team = channel.team
    if channel.is_sandbox:
        return Decimal("0"), ""
    if channel.kind == "line":
        return (Decimal("0") if reply else team.line_message_cost), team.line_cost_currency
    if channel.kind == "whatsapp":
        return team.whatsapp_message_cost, team.whatsapp_cost_currency
    return Decimal("0"), ""


def _apply(message, result, sent_contacts):
    now = timezone.now()
    if result.ok and message.channel.kind == "sms":
        sms_billing.settle(message, result.extra.get("segments") or 0)
        OutboundMessage.objects.filter(pk=message.pk, status=OutboundStatus.SENDING).update(
            status=OutboundStatus.SENT,
            sent_at=now,
            provider_message_id=result.provider_message_id,
            claimed_until=None,
            error_code="",
            error_reason="",
        )
        message.status, message.sent_at = OutboundStatus.SENT, now
        return
    if result.ok:
        cost, currency = send_cost(message.channel, reply=bool(result.extra.get("reply")))
        updated = OutboundMessage.objects.filter(pk=message.pk, status=OutboundStatus.SENDING).update(
            status=OutboundStatus.SENT,
            sent_at=now,
            provider_message_id=result.provider_message_id,
            cost=cost,
            cost_currency=currency,
            claimed_until=None,
            error_code="",
            error_reason="",
        )
        if updated and message.origin in INTERACTION_KIND:
            sent_contacts[INTERACTION_KIND[message.origin]].append(message.contact_id)
        message.status, message.sent_at = OutboundStatus.SENT, now
        if updated and message.channel.kind == "whatsapp":
            budgets.debit_whatsapp(message)
            budgets.succeeded(message.channel)
        return
    if result.error_kind == adapters.RETRYABLE and message.attempts < settings.MESSAGING_MAX_ATTEMPTS:
        delay = min(3600, 15 * 2 ** max(0, message.attempts - 1))
        OutboundMessage.objects.filter(pk=message.pk, status=OutboundStatus.SENDING).update(
            status=OutboundStatus.QUEUED,
            claimed_until=None,
            next_attempt_at=now + timedelta(seconds=delay),
            error_code=result.error_code[:64],
            error_reason=result.error_reason,
        )
        message.status = OutboundStatus.QUEUED
        return
    apply_platform_error(message, result.error_kind, result.error_code, result.error_reason, now=now)
    mark_failed(message, result.error_code, result.error_reason)


def apply_platform_error(message, kind, code, reason, *, now=None):
    """Side effects of a platform error on the channel, template or contact (sends and statuses alike)."""
    now = now or timezone.now()
    if kind == adapters.BUDGET:
        until = budgets.next_line_reset(now) if message.channel.kind == "line" else None
        label = budgets.LINE_LIMIT if message.channel.kind == "line" else f"{budgets.WHATSAPP_PAYMENT} {code}"
        budgets.mark_exhausted(message.channel, reason=label, until=until, now=now)
    elif kind == adapters.TEMPLATE:
        template_id = (message.content or {}).get("template_id")
        changed = (
            WhatsAppTemplate.objects.filter(team_id=message.team_id, pk=template_id)
            .exclude(status=TemplateStatus.DISABLED)
            .update(status=TemplateStatus.DISABLED, unusable_reason=f"{code}: {reason}"[:200])
        )
        if changed:
            notify.emit(message.team_id, "template_unusable", template_id=template_id, reason=f"{code}: {reason}")
    elif kind == adapters.UNSUBSCRIBED:
        set_unsubscribed(message.contact, scope="broadcast", unsubscribed=True, occurred_at=now)


def mark_failed(message, code, reason):
    """Mark the row failed; an SMS that never left is refunded (sms_billing.refund, once)."""
    changed = (
        OutboundMessage.objects.filter(pk=message.pk)
        .exclude(status=OutboundStatus.FAILED)
        .update(
            status=OutboundStatus.FAILED, claimed_until=None, error_code=str(code)[:64], error_reason=str(reason)[:500]
        )
    )
    message.status = OutboundStatus.FAILED
    if changed and message.channel.kind == "sms":
        sms_billing.refund(message, f"{code}: {reason}")
