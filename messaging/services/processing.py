"""Processing stored webhook events: in batches claimed with skip_locked, per contact in event-time order.

One batch = one transaction. Events are grouped by (channel, platform user id) and each group is applied in
its event-timestamp order inside a savepoint. A group that fails for a transient reason (the database
connection, a timeout) stays pending and is retried with backoff; a group that fails on its data is marked
failed with the error. Neither stops the batch, and a failing batch logs one line, not one per group. If the
batch's transaction itself is lost, nothing of it commits, its events stay pending and the drain stops.
Contacts are looked up in one query per channel; customer-interaction times are written in bulk at the end;
reply tracking touches the outbox only for contacts that have a recent successful send. The timeline events a
batch records are announced once per team (cdp.events.batched_notifications), not once per contact.
"""

import logging
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from accounts import handoff, queues
from cdp.events import batched_notifications
from cdp.models import Contact, ContactSource, OmoMethod, SubscriptionStatus
from cdp.services import omo
from cdp.services.contacts import block, follow, upsert_contact

from .. import adapters
from ..adapters.whatsapp import classify
from ..models import (
    CommentRule,
    InboundMessage,
    KeywordRule,
    ModuleType,
    OutboundMessage,
    OutboundStatus,
    WebhookEvent,
    WebhookEventState,
)
from . import autoreply, budgets, comments, inbox_state, sms, tracking
from .ingest import _ms
from .interactions import record_customer_interactions
from .wechat import text_of as wechat_text
from .wechat_events import WeChatEvents

logger = logging.getLogger(__name__)

KEYWORD_JOIN_WINDOW = timedelta(minutes=10)

# Failures that say nothing about the events: the same events will succeed once the database is back.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, ConnectionError, TimeoutError)
RETRY_FIRST_SECONDS = 5
RETRY_MAX_SECONDS = 300


_hooks_cache = {}


def inbound_hooks():
    """The callables of settings.MESSAGING_INBOUND_HOOKS (apps above messaging, e.g. OmniLink's code matching),
    imported once. Each is called as hook(event=, contact=, text=, ref=) for a customer's text or a referral ref and
    returns True when the input was its own (then keyword rules do not see it). A hook must be cheap when the
    input is not for it: it is on every inbound message's path."""
    names = tuple(getattr(settings, "MESSAGING_INBOUND_HOOKS", ()))
    if names not in _hooks_cache:
        _hooks_cache[names] = [import_string(name) for name in names]
    return _hooks_cache[names]


class BatchLost(Exception):
    """The batch's transaction cannot commit (the connection was lost): none of its work is kept."""

    def __init__(self, size, first_error):
        super().__init__(f"{size} events: {_describe(first_error)}")
        self.size = size
        self.first_error = first_error


def _describe(exc):
    return f"{type(exc).__name__}: {exc}"[:500]


def retry_delay(attempts):
    """Backoff after the n-th transient failure: 5 s, 10 s, 20 s, ... at most 5 minutes."""
    return timedelta(seconds=min(RETRY_MAX_SECONDS, RETRY_FIRST_SECONDS * 2 ** max(0, attempts - 1)))


def drain(team_id=None, batch_size=500, linger=0, poll=0.1, max_seconds=None):
    """Process batches until none is pending, then linger (accounts.queues.drain). Returns the events handled."""
    counts = []

    def step():
        counts.append(process_batch(team_id=team_id, batch_size=batch_size))
        return counts[-1]

    try:
        return queues.drain(step, linger=linger, poll=poll, max_seconds=max_seconds, name="webhooks")
    except (BatchLost, *TRANSIENT_ERRORS) as exc:
        # The database went away (mid-batch, or at the claim or commit): nothing of the batch is kept. Stop; the
        # next hint or the per-minute backstop schedule tries again.
        detail = exc if isinstance(exc, BatchLost) else _describe(exc)
        logger.warning("webhook batch lost, %s; its events stay pending", detail)
        return sum(counts)


def process_batch(team_id=None, batch_size=500):
    """Claim and process one batch; returns the number of events claimed. Raises BatchLost."""
    now = timezone.now()
    with transaction.atomic():
        qs = (
            WebhookEvent.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(processed_at__isnull=True)
            .filter(Q(retry_at__isnull=True) | Q(retry_at__lte=now))
        )
        if team_id:
            qs = qs.filter(team_id=team_id)
        events = list(qs.select_related("channel", "team").order_by("occurred_at", "id")[:batch_size])
        if not events:
            return 0
        with batched_notifications():
            Batch(events).run()
    return len(events)


class Batch(WeChatEvents):
    def __init__(self, events):
        self.events = events
        self.contacts = {}  # (channel_id, external_id) -> Contact
        self.interactions = {}  # contact_id -> latest customer interaction time
        self.inbound = []
        self.errors = {}  # event id -> why its group failed on its data (marked failed)
        self.retries = {}  # event id -> the transient error of its group (left pending, retried later)
        self.rules = {}

    # ------------------------------------------------------------------------------------------ driver
    def run(self):
        groups = defaultdict(list)
        for event in self.events:
            groups[(event.channel_id, event.user_key)].append(event)
        self._load_contacts(groups)
        self._prepare_replies()
        failed = []
        for key, group in groups.items():
            group.sort(key=lambda e: (e.occurred_at, e.id))
            inbound = len(self.inbound)
            try:
                self.apply(group)
            except Exception as exc:  # one bad group must not block the batch; the error is kept on its rows
                del self.inbound[inbound:]  # its messages and interaction were rolled back with it
                if key in self.contacts:
                    self.interactions.pop(self.contacts[key].pk, None)
                if transaction.get_rollback():  # the savepoint could not be rolled back: the transaction is gone
                    raise BatchLost(len(self.events), exc) from exc
                failed.append((group, exc))
                target = self.retries if isinstance(exc, TRANSIENT_ERRORS) else self.errors
                for event in group:
                    target[event.pk] = _describe(exc)
        if failed:
            logger.warning(
                "webhook batch: %d of %d contact groups failed (%d events to retry, %d failed); first: %s",
                len(failed),
                len(groups),
                len(self.retries),
                len(self.errors),
                _describe(failed[0][1]),
            )
        InboundMessage.objects.bulk_create(self.inbound)
        inbox_state.record_inbound(inbox_state.latest_by_contact(self.inbound))
        record_customer_interactions(self.interactions)
        self._record_outcomes()

    def apply(self, group):
        """One contact's events, in order, all or nothing."""
        with transaction.atomic():
            for event in group:
                self.handle(event)

    def _record_outcomes(self):
        now = timezone.now()
        ok_ids = [e.pk for e in self.events if e.pk not in self.errors and e.pk not in self.retries]
        WebhookEvent.objects.filter(pk__in=ok_ids).update(
            processed_at=now, state=WebhookEventState.PROCESSED, error="", retry_at=None
        )
        for pk, error in self.errors.items():
            WebhookEvent.objects.filter(pk=pk).update(processed_at=now, state=WebhookEventState.FAILED, error=error)
        for event in self.events:
            if event.pk in self.retries:
                WebhookEvent.objects.filter(pk=event.pk).update(
                    attempts=F("attempts") + 1,
                    retry_at=now + retry_delay(event.attempts + 1),
                    error=self.retries[event.pk],
                )

    def _load_contacts(self, groups):
        by_channel = defaultdict(set)
        for channel_id, user_key in groups:
            if user_key:
                by_channel[channel_id].add(user_key)
        for channel_id, keys in by_channel.items():
            for contact in Contact.objects.filter(channel_id=channel_id, external_id__in=keys):
                self.contacts[(channel_id, contact.external_id)] = contact

    def _prepare_replies(self):
        messages = [e for e in self.events if e.kind == "message"]
        self.recent_senders = set()
        if not messages:
            return
        since = min(e.occurred_at for e in messages) - tracking.REPLY_WINDOW
        by_team = defaultdict(list)
        for contact in self.contacts.values():
            by_team[contact.team_id].append(contact.pk)
        for team_id, ids in by_team.items():
            self.recent_senders |= tracking.contacts_with_recent_sends(team_id, ids, since)

    def rules_for(self, channel):
        if channel.team_id not in self.rules:
            self.rules[channel.team_id] = list(
                KeywordRule.objects.filter(team_id=channel.team_id, is_active=True).select_related("reply_module")
            )
        return [r for r in self.rules[channel.team_id] if r.channel_id in (None, channel.pk)]

    # ----------------------------------------------------------------------------------------- helpers
    def contact(self, event, *, source=ContactSource.ORGANIC, source_detail="", status=None, **extra):
        key = (event.channel_id, event.user_key)
        contact = self.contacts.get(key)
        if contact is None or event.occurred_at < contact.created_at:  # new, or an older event arrived late
            result = upsert_contact(
                channel=event.channel,
                external_id=event.user_key,
                occurred_at=event.occurred_at,
                source=source,
                source_detail=source_detail,
                status=status or SubscriptionStatus.SUBSCRIBED,
                **extra,
            )
            contact = result.contact
            self.contacts[key] = contact
            if result.created and source == ContactSource.OMO_BINDING and source_detail.startswith("omo:"):
                self._omo_assign(contact, source_detail, event.occurred_at)
        return contact

    def _omo_assign(self, contact, detail, at):
        """A contact created through a staff / branch QR code (or a keyword rule naming a listed branch)."""
        parts = detail.split(":")  # omo:<member pk> (its QR code) or omo:keyword:<branch pk> (a keyword rule)
        member = omo.member_by_pk(contact.team_id, parts[-1])
        if member is not None:
            method = OmoMethod.KEYWORD if parts[1] == "keyword" else OmoMethod.QR
            omo.assign(contact, member, method=method, at=at)

    def touch(self, contact, at):
        if contact.pk not in self.interactions or self.interactions[contact.pk] < at:
            self.interactions[contact.pk] = at

    def customer_message(self, event, contact, *, kind, text, external_id=""):
        self.inbound.append(
            InboundMessage(
                team_id=event.team_id,
                channel_id=event.channel_id,
                contact=contact,
                external_id=external_id,
                kind=kind,
                text=text or "",
                occurred_at=event.occurred_at,
            )
        )
        self.touch(contact, event.occurred_at)
        if contact.pk in self.recent_senders:
            tracking.record_replies(team_id=event.team_id, contact_id=contact.pk, at=event.occurred_at)
        if text and self.run_hooks(event, contact, text=text):
            return  # e.g. an OmniLink integration message: its code was the hook's, not a keyword
        if kind == "text" and text:
            member = omo.member_for_text(event.team_id, text)
            if member is not None:  # a known contact scanned a staff / branch QR code: bound, source unchanged
                omo.assign(contact, member, method=OmoMethod.QR, at=event.occurred_at)
        if kind == "text" and text and sms.continue_chat(contact=contact, event=event, text=text.strip()):
            return  # an answer inside the phone-binding chat flow, not a keyword
        if kind == "text" and text:
            for rule in self.rules_for(event.channel):
                if rule.matches(text):
                    autoreply.trigger(rule, contact=contact, event=event)
                    break

    def run_hooks(self, event, contact, *, text="", ref=""):
        consumed = False
        for hook in inbound_hooks():
            consumed = hook(event=event, contact=contact, text=text, ref=ref) or consumed
        return consumed

    def referral_hooks(self, event, contact, referral):
        ref = str((referral or {}).get("ref") or "")
        if ref:
            self.run_hooks(event, contact, ref=ref)

    def keyword_source(self, event, text):
        """A new contact whose first words carry a staff / branch code joined through its QR code (OMO 綁定); one
        whose first words match a keyword rule joined through that rule's link / QR code — through the coupon when
        the rule answers with a coupon card (seed 000: 優惠券模組), OMO 綁定 when the rule assigns a listed branch
        (seed 000: 關鍵字自動指派（分店 QR Code / 連結）)."""
        member = omo.member_for_text(event.team_id, text) if text else None
        if member is not None:
            return ContactSource.OMO_BINDING, f"omo:{member.pk}"
        for rule in self.rules_for(event.channel):
            if rule.matches(text):
                module = rule.reply_module
                if module is not None and module.type == ModuleType.COUPON_CARD and not module.deleted_at:
                    return ContactSource.COUPON, f"rule:{rule.pk}"
                branch = omo.branch_named(event.team_id, rule.assign_branch)
                if branch is not None:
                    return ContactSource.OMO_BINDING, f"omo:keyword:{branch.pk}"
                return ContactSource.KEYWORD, f"rule:{rule.pk}"
        return ContactSource.ORGANIC, ""

    def first_text_after(self, event):
        group = [
            e
            for e in self.events
            if e.channel_id == event.channel_id and e.user_key == event.user_key and e.kind == "message"
        ]
        for other in sorted(group, key=lambda e: e.occurred_at):
            if event.occurred_at <= other.occurred_at <= event.occurred_at + KEYWORD_JOIN_WINDOW:
                return _text_of(other)
        return ""

    # ---------------------------------------------------------------------------------------- dispatch
    def handle(self, event):
        platform = event.dedup_key.split(":", 1)[0]
        handler = getattr(self, f"{platform}_{event.kind}", None)
        if handler is not None:
            handler(event, event.payload)

    # LINE ---------------------------------------------------------------------------------------------
    def line_follow(self, event, payload):
        existed = (event.channel_id, event.user_key) in self.contacts
        source, detail = self.keyword_source(event, self.first_text_after(event))
        contact = self.contact(event, source=source, source_detail=detail)
        if existed or contact.status == SubscriptionStatus.BLOCKED:
            follow(contact, occurred_at=event.occurred_at)
        self.touch(contact, event.occurred_at)

    def line_unfollow(self, event, payload):
        contact = self.contact(event, status=SubscriptionStatus.BLOCKED)
        block(contact, occurred_at=event.occurred_at)

    def line_message(self, event, payload):
        message = payload.get("message") or {}
        text = message.get("text", "") if message.get("type") == "text" else ""
        source, detail = self.keyword_source(event, text)
        contact = self.contact(event, source=source, source_detail=detail)
        self.customer_message(
            event, contact, kind=message.get("type", "text"), text=text, external_id=str(message.get("id", ""))
        )

    def line_postback(self, event, payload):
        contact = self.contact(event)
        data = (payload.get("postback") or {}).get("data", "")
        self.customer_message(event, contact, kind="postback", text=data)

    # Messenger / Instagram ----------------------------------------------------------------------------
    def _meta_referral_source(self, event, referral):
        if not referral:
            return ContactSource.ORGANIC, ""
        ref = str(referral.get("ref") or "")
        member = omo.member_for_ref(event.team_id, ref)
        if member is not None:
            return ContactSource.OMO_BINDING, f"omo:{member.pk}"
        if ref.startswith("kw-"):
            rule = KeywordRule.objects.filter(team_id=event.team_id, join_token=ref[3:]).first()
            if rule:
                return ContactSource.KEYWORD, f"rule:{rule.pk}"
        if referral.get("source") == "ADS" or referral.get("ad_id"):
            return ContactSource.FB_AD_MESSENGER, str(referral.get("ad_id") or "")
        return ContactSource.ORGANIC, ""

    def _meta_story_or_comment_source(self, event, message):
        """IG 限動標註 (a story_mention attachment), IG 限動回覆 (reply_to.story), or the post / live comment this
        person was sent a private reply for. Only asked for a contact not known yet."""
        if any((a or {}).get("type") == "story_mention" for a in message.get("attachments") or []):
            return ContactSource.IG_STORY_MENTION, ""
        story = (message.get("reply_to") or {}).get("story")
        if story:
            return ContactSource.IG_STORY_REPLY, str(story.get("id") or "")[:200]
        return comments.source_for(event.channel_id, event.user_key) or (ContactSource.ORGANIC, "")

    def meta_message(self, event, payload):
        message = payload.get("message") or {}
        referral = message.get("referral") or payload.get("referral")
        text = message.get("text", "")
        source, detail = self._meta_referral_source(event, referral)
        if source == ContactSource.ORGANIC and (event.channel_id, event.user_key) not in self.contacts:
            source, detail = self._meta_story_or_comment_source(event, message)
        if source == ContactSource.ORGANIC and text:
            source, detail = self.keyword_source(event, text)
        contact = self.contact(event, source=source, source_detail=detail)
        attachments = message.get("attachments") or []
        kind = "text" if text else (attachments[0].get("type", "attachment") if attachments else "text")
        if message.get("quick_reply"):
            kind = "text"
        self.referral_hooks(event, contact, referral)
        self.customer_message(event, contact, kind=kind, text=text, external_id=message.get("mid", ""))

    def meta_comment(self, event, payload):
        """A comment on a post or live video: not a contact yet (see messaging.services.comments)."""
        comments.handle_comment(event, self.comment_rules_for(event.channel))

    def comment_rules_for(self, channel):
        key = ("comment", channel.team_id)
        if key not in self.rules:
            self.rules[key] = list(CommentRule.objects.filter(team_id=channel.team_id, is_active=True))
        return [r for r in self.rules[key] if r.channel_id in (None, channel.pk)]

    def meta_echo(self, event, payload):
        """Our own (or the page inbox's) message echoed back: never customer input."""

    def meta_postback(self, event, payload):
        postback = payload.get("postback") or {}
        source, detail = self._meta_referral_source(event, postback.get("referral"))
        contact = self.contact(event, source=source, source_detail=detail)
        self.referral_hooks(event, contact, postback.get("referral"))
        self.customer_message(
            event, contact, kind="postback", text=postback.get("payload") or postback.get("title", "")
        )

    def meta_referral(self, event, payload):
        source, detail = self._meta_referral_source(event, payload.get("referral"))
        contact = self.contact(event, source=source, source_detail=detail)
        self.touch(contact, event.occurred_at)
        self.referral_hooks(event, contact, payload.get("referral"))

    def meta_optin(self, event, payload):
        optin = payload.get("optin") or {}
        contact = self.contact(event, source=ContactSource.FB_RECURRING_NOTIFICATION)
        if optin.get("type") != "notification_messages":
            self.touch(contact, event.occurred_at)
            return
        status = optin.get("notification_messages_status")
        updates = {"fb_recurring_optin": status != "STOP_NOTIFICATIONS"}
        if optin.get("notification_messages_token"):
            updates["fb_recurring_token"] = optin["notification_messages_token"]
        Contact.objects.filter(pk=contact.pk).update(**updates)
        for key, value in updates.items():
            setattr(contact, key, value)
        self.touch(contact, event.occurred_at)

    def meta_delivery(self, event, payload):
        contact = self.contacts.get((event.channel_id, event.user_key))
        watermark = (payload.get("delivery") or {}).get("watermark")
        if contact and watermark:
            tracking.mark_delivered_until(channel_id=event.channel_id, contact_id=contact.pk, watermark=_ms(watermark))

    def meta_read(self, event, payload):
        contact = self.contacts.get((event.channel_id, event.user_key))
        watermark = (payload.get("read") or {}).get("watermark")
        if contact and watermark:
            tracking.mark_read_until(channel_id=event.channel_id, contact_id=contact.pk, watermark=_ms(watermark))

    # WhatsApp -----------------------------------------------------------------------------------------
    def wa_message(self, event, payload):
        profile = payload.get("_contact") or {}
        wa_id = profile.get("wa_id") or payload.get("from") or ""
        bsuid = profile.get("user_id") or payload.get("from_user_id") or ""
        text = _text_of(event)
        referral = payload.get("referral") or {}
        if referral.get("source_type") == "ad" or referral.get("ctwa_clid"):
            source, detail = ContactSource.FB_AD_WHATSAPP, str(referral.get("source_id") or "")
        else:
            source, detail = self.keyword_source(event, text)
        contact = self.contact(
            event,
            source=source,
            source_detail=detail,
            display_name=(profile.get("profile") or {}).get("name", ""),
            phone=f"+{wa_id.lstrip('+')}" if wa_id else "",
            business_scoped_id=bsuid,
        )
        self.customer_message(event, contact, kind=payload.get("type", "text"), text=text, external_id=payload["id"])
        if payload.get("type") == "order":  # a WhatsApp catalog cart: handed to the apps above (commerce)
            handoff.add(
                event.team_id,
                "inbound",
                [
                    {
                        "kind": "whatsapp_order",
                        "payload": {
                            "channel_id": event.channel_id,
                            "contact_id": contact.pk,
                            "webhook_event_id": event.pk,
                            "message_id": payload["id"],
                            "order": payload.get("order"),
                        },
                    }
                ],
            )

    def wa_status(self, event, payload):
        apply_whatsapp_status(event.channel, payload, event.occurred_at)


def _text_of(event):
    payload = event.payload or {}
    if event.dedup_key.startswith("line:"):
        message = payload.get("message") or {}
        return message.get("text", "") if message.get("type") == "text" else ""
    if event.dedup_key.startswith("meta:"):
        return (payload.get("message") or {}).get("text", "")
    if event.dedup_key.startswith("wechat:"):
        return wechat_text(payload) if str(payload.get("MsgType", "")).lower() == "text" else ""
    kind = payload.get("type")
    if kind == "text":
        return (payload.get("text") or {}).get("body", "")
    if kind == "button":
        return (payload.get("button") or {}).get("text", "")
    if kind == "interactive":
        interactive = payload.get("interactive") or {}
        reply = interactive.get("button_reply") or interactive.get("list_reply") or {}
        return reply.get("title", "")
    return ""


STATUS_FIELDS = {"sent": None, "delivered": "delivered_at", "read": "read_at"}
RANK = {"queued": 0, "sending": 0, "sent": 1, "delivered": 2, "read": 3}


def apply_whatsapp_status(channel, status, at):
    """WhatsApp statuses: sent / delivered / read move the send forward (never back); failed maps the error."""
    message = (
        OutboundMessage.objects.filter(channel=channel, provider_message_id=status.get("id"))
        .select_related("channel", "contact", "team")
        .first()
    )
    if message is None:
        return
    value = status.get("status")
    if value in STATUS_FIELDS:
        updates = {}
        if RANK.get(message.status, -1) < RANK[value] and message.status != OutboundStatus.FAILED:
            updates["status"] = value
        field = STATUS_FIELDS[value]
        if field and getattr(message, field) is None:
            updates[field] = at
        if value == "read" and message.delivered_at is None:
            updates["delivered_at"] = at
        if updates:
            OutboundMessage.objects.filter(pk=message.pk).update(**updates)
        budgets.succeeded(channel)
        return
    if value == "failed":
        from . import outbox

        error = (status.get("errors") or [{}])[0]
        code = error.get("code", "")
        reason = (error.get("error_data") or {}).get("details") or error.get("title") or error.get("message") or ""
        kind = classify(code)
        if kind == adapters.RETRYABLE and message.attempts < 6:
            OutboundMessage.objects.filter(pk=message.pk).update(
                status=OutboundStatus.QUEUED,
                next_attempt_at=timezone.now() + timedelta(seconds=30 * max(1, message.attempts)),
                error_code=str(code),
                error_reason=str(reason)[:500],
                sent_at=None,
                provider_message_id="",
            )
            return
        outbox.apply_platform_error(message, kind, code, reason, now=at)
        OutboundMessage.objects.filter(pk=message.pk).update(
            status=OutboundStatus.FAILED, error_code=str(code)[:64], error_reason=str(reason)[:500]
        )
