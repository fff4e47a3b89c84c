"""Webhook intake: verify the signature over the raw body, parse into raw event rows, store them in one
statement (deduplicated by the platform's id), and hint the worker. Nothing else happens in the request.
"""

import base64
import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime

from cdp.models import Channel, ChannelKind

from ..models import WebhookEvent

logger = logging.getLogger(__name__)


class Rejected(Exception):
    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status
        self.reason = reason


# --------------------------------------------------------------------------------------------- signatures
def line_signature(secret, body):
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def meta_signature(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def check_signature(expected, given):
    if not given or not hmac.compare_digest(expected.encode(), given.strip().encode()):
        raise Rejected(401, "bad signature")


# ------------------------------------------------------------------------------------------------ helpers
def _ms(value):
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)


def _s(value):
    return datetime.fromtimestamp(int(value), tz=UTC)


def stable_hash(*parts):
    raw = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


def _load(body):
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Rejected(400, "malformed JSON") from exc
    if not isinstance(data, dict):
        raise Rejected(400, "body is not an object")
    return data


def get_channel(channel_id, kinds):
    channel = Channel.objects.filter(pk=channel_id, kind__in=kinds).select_related("team").first()
    if channel is None:
        raise Rejected(404, "unknown channel")
    if not channel.is_active:
        raise Rejected(404, "channel disabled")
    return channel


def _row(channel, dedup_key, kind, user_key, occurred_at, payload):
    return WebhookEvent(
        team_id=channel.team_id,
        channel_id=channel.pk,
        dedup_key=dedup_key[:255],
        kind=kind,
        user_key=str(user_key or "")[:128],
        occurred_at=occurred_at,
        payload=payload,
    )


# --------------------------------------------------------------------------------------------------- LINE
def parse_line(channel, body, signature):
    secret = (channel.credentials or {}).get("channel_secret", "")
    if not secret:
        raise Rejected(404, "channel has no secret")
    check_signature(line_signature(secret, body), signature)
    data = _load(body)
    events = data.get("events")
    if not isinstance(events, list):
        raise Rejected(400, "events missing")
    rows = []
    try:
        for event in events:
            kind = str(event["type"])
            occurred_at = _ms(event["timestamp"])
            source = event.get("source") or {}
            user = source.get("userId", "")
            key = event.get("webhookEventId") or stable_hash(channel.pk, event)
            rows.append(_row(channel, f"line:{key}", kind, user, occurred_at, event))
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise Rejected(400, f"malformed event: {exc}") from exc
    return rows


# ----------------------------------------------------------------------------------- Messenger / Instagram
META_KINDS = ("message", "postback", "referral", "optin", "delivery", "read", "reaction", "message_edit")


def _channels_by_external_id(team_id, kind):
    return {c.external_id: c for c in Channel.objects.filter(team_id=team_id, kind=kind) if c.external_id}


def parse_meta(channel, body, signature):
    secret = (channel.credentials or {}).get("app_secret", "")
    if not secret:
        raise Rejected(404, "channel has no app secret")
    check_signature(meta_signature(secret, body), signature)
    data = _load(body)
    obj = data.get("object")
    kind_by_object = {"page": ChannelKind.FACEBOOK, "instagram": ChannelKind.INSTAGRAM}
    if obj not in kind_by_object or not isinstance(data.get("entry"), list):
        raise Rejected(400, "unsupported object")
    channel_kind = kind_by_object[obj]
    known = _channels_by_external_id(channel.team_id, channel_kind)
    rows = []
    try:
        for entry in data["entry"]:
            target = known.get(str(entry.get("id", "")))
            if target is None and channel.kind == channel_kind:
                target = channel
            if target is None or not target.is_active:
                logger.warning("meta webhook: entry %s has no channel in team %s", entry.get("id"), channel.team_id)
                continue
            for item in entry.get("messaging") or []:
                kind = next((k for k in META_KINDS if k in item), "other")
                message = item.get("message") or {}
                echo = bool(message.get("is_echo"))
                user = item["recipient"]["id"] if echo else item["sender"]["id"]
                if kind == "message" and echo:
                    kind = "echo"
                mid = message.get("mid") or (item.get("postback") or {}).get("mid")
                if kind in ("message", "echo", "postback") and mid:
                    key = f"meta:{kind}:{mid}"
                else:
                    key = f"meta:{kind}:{stable_hash(target.pk, item)}"
                rows.append(_row(target, key, kind, user, _ms(item["timestamp"]), item))
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise Rejected(400, f"malformed event: {exc}") from exc
    return rows


# ------------------------------------------------------------------------------------------------ WhatsApp
def wa_external_id(wa_id="", user_id=""):
    """A WhatsApp contact's id: the E.164 phone when known, else the business-scoped user id."""
    if wa_id:
        return "+" + str(wa_id).lstrip("+")
    return str(user_id or "")


def parse_whatsapp(channel, body, signature):
    secret = (channel.credentials or {}).get("app_secret", "")
    if not secret:
        raise Rejected(404, "channel has no app secret")
    check_signature(meta_signature(secret, body), signature)
    data = _load(body)
    if data.get("object") != "whatsapp_business_account" or not isinstance(data.get("entry"), list):
        raise Rejected(400, "unsupported object")
    known = _channels_by_external_id(channel.team_id, ChannelKind.WHATSAPP)
    rows = []
    try:
        for entry in data["entry"]:
            for change in entry.get("changes") or []:
                value = change.get("value") or {}
                if change.get("field") != "messages" or "metadata" not in value:
                    continue
                phone_number_id = str(value["metadata"]["phone_number_id"])
                target = known.get(phone_number_id)
                if target is None or not target.is_active:
                    logger.warning(
                        "whatsapp webhook: unknown phone_number_id %s (team %s)", phone_number_id, channel.team_id
                    )
                    continue
                profiles = {}
                for contact in value.get("contacts") or []:
                    ext = wa_external_id(contact.get("wa_id"), contact.get("user_id"))
                    profiles[ext] = contact
                for message in value.get("messages") or []:
                    user = wa_external_id(message.get("from"), message.get("from_user_id"))
                    payload = {**message, "_contact": profiles.get(user) or {}}
                    rows.append(_row(target, f"wa:{message['id']}", "message", user, _s(message["timestamp"]), payload))
                for status in value.get("statuses") or []:
                    user = wa_external_id(status.get("recipient_id"), status.get("recipient_user_id"))
                    key = f"wa:{status['id']}:{status['status']}"
                    rows.append(_row(target, key, "status", user, _s(status["timestamp"]), status))
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise Rejected(400, f"malformed event: {exc}") from exc
    return rows


# --------------------------------------------------------------------------------------------------- store
def store(rows):
    """One INSERT for the request's events; redeliveries hit the unique (team, dedup_key) and are ignored."""
    if not rows:
        return
    from django.db import transaction
    from django_q.tasks import async_task

    # One commit for the events and the task row (the ORM broker's queue lives in the same database).
    with transaction.atomic():
        WebhookEvent.objects.bulk_create(rows, ignore_conflicts=True)
        async_task("messaging.tasks.process_webhook_events", rows[0].team_id, task_name="messaging:webhooks")
