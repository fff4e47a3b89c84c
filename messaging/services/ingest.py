"""Webhook intake: verify the signature over the raw body, parse into raw event rows, store them in one
statement (deduplicated by the platform's id), and hint the worker. Nothing else happens in the request.

Speed (issue 5: >= 3,000 events/s, ack p99 <= 50 ms). On PostgreSQL a request costs ONE round trip: the channel
(its secret) comes from a short per-process cache, and a single autocommit statement both re-checks that the
channel is still active and inserts the events with ON CONFLICT DO NOTHING (so disabling a channel takes
effect at once, whatever the cache holds). A secret that no longer verifies is re-read from the database once
(rotated secrets). The stored, unprocessed rows are themselves the work queue (partial index
`webhookevent_pending`); instead of one django-q2 task per request, each process enqueues at most one
"drain" hint per MESSAGING_WEBHOOK_HINT_SECONDS, and the drain task lingers (polls) for twice that interval
after the backlog is empty, so events stored by a request whose hint was skipped are still picked up.
"""

import base64
import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime, timedelta

import orjson
from django.db import connection
from django.utils import timezone

from accounts.queues import Hint
from cdp.models import Channel, ChannelKind

from ..models import WebhookEvent, WebhookEventState
from . import channel_cache

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
EARLIEST_EVENT_TIME = datetime(2000, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(days=1)  # how far ahead of our clock a platform's timestamp may be


def event_time(value, per_second):
    """A platform timestamp (milliseconds: per_second=1000; WhatsApp's seconds as a digit string: 1) as a UTC
    datetime. ValueError for anything else: a non-integer, or a time before 2000 or more than a day ahead."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"timestamp {str(value)[:40]!r} is not an integer")
    earliest = int(EARLIEST_EVENT_TIME.timestamp()) * per_second
    latest = int((datetime.now(UTC) + CLOCK_SKEW).timestamp()) * per_second
    if not earliest <= value <= latest:
        raise ValueError(f"timestamp {str(value)[:40]} is out of range")
    return datetime.fromtimestamp(value / per_second, tz=UTC)


def _ms(value):
    return event_time(value, 1000)


def _s(value):
    return event_time(value, 1)


# What a malformed part of a genuine (signed) request raises while it is read: an event is rejected alone, a
# malformed request (an entry or change that is not an object) answers 400.
MALFORMED = (KeyError, TypeError, ValueError, AttributeError)


def _malformed(exc):
    if isinstance(exc, KeyError):
        return f"malformed event: {exc.args[0]!r} missing"
    return f"malformed event: {exc}"


def stable_hash(*parts):
    raw = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


def _load(body):
    try:
        data = orjson.loads(body)
    except (orjson.JSONDecodeError, ValueError, UnicodeDecodeError) as exc:
        raise Rejected(400, "malformed JSON") from exc
    if not isinstance(data, dict):
        raise Rejected(400, "body is not an object")
    if b"\\u0000" in body:
        data = _without_nul(data)
    return data


def _without_nul(value):
    """A customer can type a NUL character and the platform (signed, genuine) escapes it as \\u0000; PostgreSQL
    text and jsonb cannot store it. Refusing would lose the message to endless redeliveries, so it becomes U+FFFD."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    return value


def get_channel(channel_id, kinds, *, fresh=False):
    """The active channel a webhook names, from this process's cache (channel_cache)."""
    channel = channel_cache.get(channel_id, fresh=fresh)
    if channel is None or channel.kind not in kinds:
        raise Rejected(404, "unknown channel")
    if not channel.is_active:
        raise Rejected(404, "channel disabled")
    return channel


def accept(channel_id, kinds, parse, body, signature):
    """Verify, parse and store one webhook request; returns the number of new events to process. Raises
    Rejected. Events refused one by one (see _rejected_row) are stored as rejected and logged once here."""
    channel = get_channel(channel_id, kinds)
    try:
        rows = parse(channel, body, signature)
    except Rejected as exc:
        if exc.status != 401 or not channel_cache.may_reload(channel_id):
            raise
        channel = get_channel(channel_id, kinds, fresh=True)  # the secret may have been rotated elsewhere
        rows = parse(channel, body, signature)
    inserted = store(rows, channel=channel)
    refused = [row for row in rows if row.state == WebhookEventState.REJECTED]
    if refused:
        logger.warning(
            "%s webhook for channel %s: %d of %d events rejected (first: %s)",
            channel.kind,
            channel.pk,
            len(refused),
            len(rows),
            refused[0].error,
        )
    return inserted


def _row(channel, dedup_key, kind, user_key, occurred_at, payload):
    return WebhookEvent(
        team_id=channel.team_id,
        channel_id=channel.pk,
        dedup_key=dedup_key[:255],
        kind=str(kind)[:32],
        user_key=str(user_key or "")[:128],
        occurred_at=occurred_at,
        payload=payload,
    )


def _rejected_row(channel, dedup_key, kind, user_key, payload, reason):
    """An event of a genuine request that is refused (answering an error would make the platform redeliver the
    whole request forever): kept on the receiving channel for the operator to see, never processed. Its own
    dedup key space, so a rejection never hides a later genuine event."""
    row = _row(channel, f"rejected:{dedup_key}", kind or "unknown", user_key, timezone.now(), payload)
    row.state = WebhookEventState.REJECTED
    row.processed_at = row.received_at = row.occurred_at
    row.error = reason[:500]
    return row


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
    for event in events:
        if not isinstance(event, dict):
            raise Rejected(400, "malformed event: not an object")
        key = f"line:{event.get('webhookEventId') or stable_hash(channel.pk, event)}"
        user = ""
        try:
            user = (event.get("source") or {}).get("userId", "")
            rows.append(_row(channel, key, event["type"], user, _ms(event["timestamp"]), event))
        except MALFORMED as exc:
            rows.append(_rejected_row(channel, key, event.get("type"), user, event, _malformed(exc)))
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
    account = "page" if channel_kind == ChannelKind.FACEBOOK else "Instagram account"
    rows = []
    try:
        for entry in data["entry"]:
            account_id = str(entry.get("id", ""))
            target = known.get(account_id)
            refusal = None
            if target is None or not target.is_active:
                # Never the receiving channel by default: its contacts would be another page's customers.
                refusal = f"{account} {account_id} is not connected to this team"
            for item in entry.get("messaging") or []:
                rows.append(_meta_row(target, channel, account, account_id, item, refusal))
            for change in entry.get("changes") or []:
                if isinstance(change, dict) and "time" in entry:
                    change = {**change, "_entry_time": entry["time"]}
                row = _meta_comment_row(target, channel, account_id, change, refusal)
                if row is not None:
                    rows.append(row)
    except MALFORMED as exc:
        raise Rejected(400, f"malformed event: {exc}") from exc
    return rows


def _meta_row(target, channel, account, account_id, item, refusal):
    """One Messenger / Instagram event of the entry for `account_id` (target: its channel, None if unknown)."""
    kind = next((k for k in META_KINDS if k in item), "other")
    message = item.get("message") or {}
    echo = bool(message.get("is_echo"))
    if kind == "message" and echo:
        kind = "echo"
    mid = message.get("mid") or (item.get("postback") or {}).get("mid")
    if kind in ("message", "echo", "postback") and mid:
        key = f"meta:{kind}:{mid}"
    else:
        key = f"meta:{kind}:{stable_hash((target or channel).pk, item)}"
    user = ""
    try:
        # The customer is the sender, or the recipient of our own echoed message; the other side is the account.
        user_side, account_side = ("recipient", "sender") if echo else ("sender", "recipient")
        user = item[user_side]["id"]
        ours = str((item.get(account_side) or {}).get("id", account_id))
        if refusal is None and ours != account_id:
            refusal = f"{account_side} {ours} is not {account} {account_id}"
        occurred_at = _ms(item["timestamp"])
    except MALFORMED as exc:
        refusal = refusal or _malformed(exc)
    if refusal is not None:
        return _rejected_row(channel, key, kind, user, item, refusal)
    return _row(target, key, kind, user, occurred_at, item)


COMMENT_FIELDS = ("feed", "comments", "live_comments")


def _meta_comment_row(target, channel, account_id, change, refusal):
    """A comment on a Page post (`feed`, item comment, verb add), an Instagram post (`comments`) or an Instagram
    live video (`live_comments`), as a "comment" event keyed by the comment id; None for any other change (edits,
    removals, likes, the account's own comments)."""
    field = change.get("field")
    value = change.get("value")
    if field not in COMMENT_FIELDS or not isinstance(value, dict):
        return None
    if field == "feed":
        if value.get("item") != "comment" or value.get("verb") != "add":
            return None
        comment_id = str(value.get("comment_id") or "")
    else:
        comment_id = str(value.get("id") or "")
    author = str((value.get("from") or {}).get("id") or "")
    if author and author == account_id:
        return None  # our own comment (a public reply): never answered
    key = f"meta:comment:{comment_id or stable_hash((target or channel).pk, value)}"
    payload = {"field": field, **value}
    try:
        if not comment_id:
            raise KeyError("comment id")
        if not author:
            raise KeyError("from.id")
        # feed gives created_time in seconds; Instagram's comment values carry no time: the entry's (ms) is used.
        created = value.get("created_time")
        occurred_at = _s(created) if created is not None else _entry_time(change.get("_entry_time"))
    except MALFORMED as exc:
        refusal = refusal or _malformed(exc)
    if refusal is not None:
        return _rejected_row(channel, key, "comment", author, payload, refusal)
    return _row(target, key, "comment", author, occurred_at, payload)


def _entry_time(value):
    """An entry's `time`: milliseconds in Meta's examples, seconds in some; told apart by size. Now if absent."""
    if value is None:
        return timezone.now()
    if isinstance(value, int) and not isinstance(value, bool) and value < 10**11:
        return _s(value)
    return _ms(value)


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
                refusal = None
                if target is None or not target.is_active:
                    refusal = f"phone number {phone_number_id} is not connected to this team"
                profiles = {}
                for contact in value.get("contacts") or []:
                    ext = wa_external_id(contact.get("wa_id"), contact.get("user_id"))
                    profiles[ext] = contact
                for message in value.get("messages") or []:
                    user = wa_external_id(message.get("from"), message.get("from_user_id"))
                    key = f"wa:{message.get('id') or stable_hash(channel.pk, message)}"
                    payload = {**message, "_contact": profiles.get(user) or {}}
                    rows.append(_wa_row(target, channel, key, "message", user, message, payload, refusal))
                for status in value.get("statuses") or []:
                    user = wa_external_id(status.get("recipient_id"), status.get("recipient_user_id"))
                    key = f"wa:{status.get('id') or stable_hash(channel.pk, status)}:{status.get('status')}"
                    rows.append(_wa_row(target, channel, key, "status", user, status, status, refusal))
    except MALFORMED as exc:
        raise Rejected(400, f"malformed event: {exc}") from exc
    return rows


def _wa_row(target, channel, key, kind, user, item, payload, refusal):
    try:
        occurred_at = _s(item["timestamp"])
        if "id" not in item:
            raise KeyError("id")
    except MALFORMED as exc:
        refusal = refusal or _malformed(exc)
    if refusal is None and kind == "message" and item.get("type") == "order":
        refusal = wa_order_problem(item.get("order"))
    if refusal is not None:
        return _rejected_row(channel, key, kind, user, payload, refusal)
    return _row(target, key, kind, user, occurred_at, payload)


def wa_order_problem(order):
    """Why a Cloud API `order` message (a WhatsApp catalog cart) is malformed, or None. Its shape:
    {"catalog_id", "text"?, "product_items": [{"product_retailer_id", "quantity", "item_price", "currency"}]}."""
    if not isinstance(order, dict):
        return "malformed order: not an object"
    if not isinstance(order.get("catalog_id"), str) or not order["catalog_id"]:
        return "malformed order: catalog_id missing"
    items = order.get("product_items")
    if not isinstance(items, list) or not items or len(items) > 100:
        return "malformed order: product_items must list 1-100 items"
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            return f"malformed order: product_items[{i}] is not an object"
        retailer_id, quantity, currency = item.get("product_retailer_id"), item.get("quantity"), item.get("currency")
        if not isinstance(retailer_id, str) or not retailer_id.strip():
            return f"malformed order: product_items[{i}].product_retailer_id"
        if isinstance(quantity, str) and quantity.isascii() and quantity.isdigit():
            quantity = int(quantity)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 100_000:
            return f"malformed order: product_items[{i}].quantity"
        price = item.get("item_price")
        if isinstance(price, bool) or not isinstance(price, (int, float, str)):
            return f"malformed order: product_items[{i}].item_price"
        try:
            if not 0 <= float(price) < 1e10:
                raise ValueError
        except ValueError:
            return f"malformed order: product_items[{i}].item_price"
        if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
            return f"malformed order: product_items[{i}].currency"
    return None


# --------------------------------------------------------------------------------------------------- store
def _insert_sql():
    """One statement, fixed text (arrays, not N value tuples): re-check the channel, insert, count."""
    return (
        f"WITH ch AS (SELECT 1 FROM {Channel._meta.db_table} WHERE id = %s AND status = 'active'), "
        f"ins AS (INSERT INTO {WebhookEvent._meta.db_table} "
        "(team_id, channel_id, dedup_key, kind, user_key, occurred_at, payload, received_at, "
        "state, processed_at, error, attempts) "
        "SELECT %s, u.c, u.k, u.t, u.u, u.o, u.p::jsonb, %s, u.s, u.d, u.e, 0 "
        "FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::text[], "
        "%s::text[], %s::timestamptz[], %s::text[]) "
        "AS u(c, k, t, u, o, p, s, d, e) WHERE EXISTS (SELECT 1 FROM ch) ON CONFLICT DO NOTHING RETURNING state) "
        "SELECT EXISTS (SELECT 1 FROM ch), (SELECT count(*) FROM ins WHERE state = 'pending')"
    )


INSERT_SQL = _insert_sql()


def store(rows, *, channel=None):
    """One INSERT for the request's events; redeliveries hit the unique (team, dedup_key) and are ignored.

    Returns the number of new events to process. Raises Rejected(404) when the channel was disabled meanwhile.
    """
    if not rows:
        return 0
    channel_id = channel.pk if channel is not None else rows[0].channel_id
    if connection.vendor == "postgresql" and connection.get_autocommit():
        params = [
            channel_id,
            rows[0].team_id,
            rows[0].received_at,
            [r.channel_id for r in rows],
            [r.dedup_key for r in rows],
            [r.kind for r in rows],
            [r.user_key for r in rows],
            [r.occurred_at for r in rows],
            [orjson.dumps(r.payload).decode() for r in rows],
            [r.state for r in rows],
            [r.processed_at for r in rows],
            [r.error for r in rows],
        ]
        with connection.cursor() as cursor:
            cursor.execute(INSERT_SQL, params)
            active, inserted = cursor.fetchone()
        if not active:
            channel_cache.forget(channel_id)
            raise Rejected(404, "channel disabled")
    else:  # SQLite, or inside a caller's transaction (tests): the ORM, same semantics
        from django.db import transaction

        with transaction.atomic():
            if not Channel.objects.filter(pk=channel_id, status="active").exists():
                channel_cache.forget(channel_id)
                raise Rejected(404, "channel disabled")
            WebhookEvent.objects.bulk_create(rows, ignore_conflicts=True)
            # (duplicates included: only used to decide on a hint)
            inserted = sum(1 for row in rows if row.state == WebhookEventState.PENDING)
    if inserted:
        hint_processing()
    return inserted


# One drain task per MESSAGING_WEBHOOK_HINT_SECONDS per process; the drain lingers after the backlog empties,
# covering skipped hints (accounts.queues.Hint).
hint_processing = Hint(
    "messaging.tasks.process_webhook_events", interval_setting="MESSAGING_WEBHOOK_HINT_SECONDS", drain="webhooks"
)
