"""The request's shape and each event's envelope (id, type, occurred_at, data), and the per-request caches."""

import datetime as dt
import re
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from core.errors import ServiceError
from core.params import parse_id

from ...models import (
    BindingMethod,
    Channel,
    ChannelKind,
    Contact,
    ContactSource,
    EventReceipt,
)
from ...phones import normalize_phone

MAX_EVENTS = 1000
MAX_ID = 128
FUTURE_TOLERANCE = dt.timedelta(minutes=10)
SYSTEM_RE = re.compile(r"^system\.[a-z0-9_]{1,60}$")

TYPES = [
    "member.identify",
    "binding",
    "checkout.completed",
    "tag.add",
    "tag.remove",
    "attribute.set",
    "unsubscribe",
    "coupon.redeemed",
]

SOURCE_FOR_METHOD = {
    BindingMethod.BINDING_PLUGIN: ContactSource.WEBSITE_BINDING,
    BindingMethod.CHATBOT_TO_WEBSITE: ContactSource.WEBSITE_BINDING,
    BindingMethod.CART_REMARKETING: ContactSource.CART_REMARKETING,
    BindingMethod.COUPON: ContactSource.COUPON,
    BindingMethod.PIXEL: ContactSource.PIXEL,
    BindingMethod.OMNILINK: ContactSource.WEBSITE_BINDING,
    BindingMethod.API: ContactSource.API_SYNC,
}


class BadBody(Exception):
    """The body is not {"events": [...]} with at most 1,000 events: the whole request is a 400."""

    def __init__(self, message, field="events"):
        self.field = field
        super().__init__(message)


# The `code` of a rejected event: one per reason, so an integrator can branch on it in any language. The schema
# (RejectedEventSerializer) and the README list them; tests check that every code used is listed here.
REJECTION_CODES = {
    "invalid_event": "The event is not a JSON object.",
    "invalid_id": "The event id is missing, not text, or longer than 128 characters.",
    "unknown_type": "Not one of the event types (or system.<name>).",
    "invalid_occurred_at": "occurred_at is not an ISO 8601 date-time.",
    "future_occurred_at": "occurred_at is more than 10 minutes in the future.",
    "invalid_data": "data is not an object, or one of its fields has the wrong type.",
    "missing_identity": "A member id, phone or email is needed.",
    "invalid_member_id": "The member id is longer than 128 characters.",
    "invalid_phone": "Not a phone number (read with the team's default region).",
    "invalid_email": "Not an email address.",
    "member_id_conflict": "The contact's customer holds another member id: different people, never merged.",
    "unknown_channel": "No channel of the team with that id.",
    "invalid_external_id": "external_id is missing or longer than 128 characters.",
    "unknown_contact": "The channel has no contact with that external_id.",
    "invalid_method": "Not a binding method.",
    "unknown_customer": "No customer of the team with that id.",
    "missing_reference": "No customer reference: member_id, customer, or channel + external_id.",
    "invalid_tags": "tags is not a non-empty list of tag names.",
    "invalid_attributes": "attributes is missing or not {key: value}, or a value does not fit its attribute.",
    "invalid_order": "checkout.completed data that cannot be an order (order id, amount, currency, items).",
    "invalid_scope": "Not an unsubscribe scope.",
    "invalid_source": "source is not one of the 20 new-contact source codes (ContactSource).",
    "pixel_not_whatsapp": "Pixel (a pixel binding, or member.identify naming a channel) is for WhatsApp channels only.",
    "invalid_token": "binding: the binding link token is forged, altered or not a token.",
    "expired_token": "binding: the binding link token is older than the team's binding link expiry.",
    "foreign_token": "binding: the binding link token belongs to another team.",
    "invalid_coupon": "coupon.redeemed: the code is missing or longer than 64 characters.",
}

# A rejection built from a service's field errors gets the code of its first field (services' own codes win when
# they are rejection codes).
FIELD_CODES = {
    "event": "invalid_event",
    "id": "invalid_id",
    "type": "unknown_type",
    "occurred_at": "invalid_occurred_at",
    "data.phone": "invalid_phone",
    "data.email": "invalid_email",
    "data.member_id": "invalid_member_id",
    "data.external_id": "invalid_external_id",
    "data.channel": "unknown_channel",
    "data.customer": "unknown_customer",
    "data.method": "invalid_method",
    "data.tags": "invalid_tags",
    "data.scope": "invalid_scope",
    "data.source": "invalid_source",
    "data.token": "invalid_token",
    "data.code": "invalid_coupon",
    "data.coupon_code": "invalid_coupon",
    "data.order_id": "invalid_order",
    "data.amount": "invalid_order",
    "data.currency": "invalid_order",
    "data.items": "invalid_order",
}


def contact_source(data, default):
    """The new-contact source an event reports for the contact it may create (遊戲模組, 91App LINE 會員綁定, ...
    come from outside systems): one of the 20 codes, else the default of its binding method."""
    raw = data.get("source")
    if raw in (None, ""):
        return default
    if raw not in ContactSource.values:
        raise Rejected(
            {"data.source": [_("新聯絡人來源必須是：%(values)s") % {"values": ", ".join(ContactSource.values)}]},
            "invalid_source",
        )
    return ContactSource(raw)


def check_pixel(channel, method):
    """Pixel binding is WhatsApp only (seed 000): the website's phone becomes a WhatsApp contact."""
    if method == BindingMethod.PIXEL and channel.kind != ChannelKind.WHATSAPP:
        raise Rejected({"data.method": [_("Pixel 綁定只適用於 WhatsApp 渠道。")]}, "pixel_not_whatsapp")


def rejection_code(errors, exc=None):
    code = getattr(exc, "code", None)
    if code in REJECTION_CODES:
        return code
    first = next(iter(errors), "data")
    if first.startswith("data.attributes"):
        return "invalid_attributes"
    return FIELD_CODES.get(first, "invalid_data")


class Rejected(ServiceError):
    """One event refused: its errors ({field: [messages]}) and one stable code (REJECTION_CODES)."""

    def __init__(self, errors, code=None, *, cause=None):
        self.errors = errors
        super().__init__(errors, code=code or rejection_code(errors, cause))


@dataclass
class Outcome:
    accepted: int = 0
    duplicates: int = 0
    rejected: list = field(default_factory=list)

    def as_dict(self):
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}


def check_body(body):
    if not isinstance(body, dict) or "events" not in body:
        raise BadBody(_('請求內容必須是 {"events": [...]}。'))
    events = body["events"]
    if not isinstance(events, list):
        raise BadBody(_("events 必須是清單。"))
    if len(events) > MAX_EVENTS:
        raise BadBody(_("一次最多 %(n)s 個事件（收到 %(got)s 個）。") % {"n": MAX_EVENTS, "got": len(events)})
    return events


class Batch:
    """Per-request caches: channels of the team, contacts named by the batch, receipts already seen."""

    def __init__(self, team, events):
        self.team = team
        self.now = timezone.now()
        self.channels = {c.pk: c for c in Channel.objects.for_team(team)}
        ids = [e.get("id") for e in events if isinstance(e, dict) and isinstance(e.get("id"), str)]
        self.seen = set(EventReceipt.objects.for_team(team).filter(event_id__in=ids).values_list("event_id", flat=True))
        keys = {}
        for event in events:
            data = event.get("data") if isinstance(event, dict) else None
            if isinstance(data, dict) and isinstance(data.get("external_id"), str):
                channel = self.channels.get(parse_id(data.get("channel")))
                if channel is not None:
                    keys.setdefault(channel.pk, set()).add(self.external_id(channel, data["external_id"], strict=False))
        self.contacts = {}
        self.looked_up = {(channel_id, ext) for channel_id, exts in keys.items() for ext in exts}
        for channel_id, external_ids in keys.items():
            for contact in Contact.objects.for_team(team).filter(channel_id=channel_id, external_id__in=external_ids):
                contact.team = team
                contact.channel = self.channels[channel_id]
                self.contacts[(channel_id, contact.external_id)] = contact

    def external_id(self, channel, raw, *, strict=True):
        value = str(raw).strip()
        if channel.kind == ChannelKind.WHATSAPP and re.fullmatch(r"\+?[\d\s-]{6,20}", value):
            try:
                return normalize_phone(value, self.team.default_region or "TW")
            except ValidationError as exc:
                if strict:
                    raise Rejected({"data.external_id": exc.messages}, "invalid_phone")
        return value


ACCEPTED, DUPLICATE = "accepted", "duplicate"


def _data_errors(exc, prefix="data"):
    if hasattr(exc, "error_dict"):
        return {f"{prefix}.{key}": messages for key, messages in exc.message_dict.items()}
    return {prefix: exc.messages}


def _check_event(batch, event):
    if not isinstance(event, dict):
        raise Rejected({"event": [_("每個事件必須是物件。")]})
    errors, future = {}, False
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id.strip():
        errors["id"] = [_("需要事件 id（文字）。")]
    elif len(event_id) > MAX_ID:
        errors["id"] = [_("事件 id 最多 %(n)s 個字元。") % {"n": MAX_ID}]
    type_ = event.get("type")
    if not isinstance(type_, str) or not (type_ in TYPES or SYSTEM_RE.match(type_)):
        errors["type"] = [
            _("未知的事件類型：%(type)s（可用：%(types)s、system.<name>）") % {"type": type_, "types": ", ".join(TYPES)}
        ]
    occurred_at = batch.now
    raw = event.get("occurred_at")
    if raw not in (None, ""):
        parsed = None
        if isinstance(raw, str):
            try:
                parsed = parse_datetime(raw.strip())
            except ValueError:
                parsed = None
        if parsed is None:
            errors["occurred_at"] = [_("必須是 ISO 8601 日期時間：%(value)s") % {"value": raw}]
        else:
            if timezone.is_naive(parsed):
                parsed = timezone.make_aware(parsed, batch.team.zone)
            if parsed > batch.now + FUTURE_TOLERANCE:
                errors["occurred_at"] = [_("發生時間不可在未來：%(value)s") % {"value": raw}]
                future = True
            occurred_at = parsed
    data = event.get("data", {})
    if data is None:
        data = {}
    if not isinstance(data, dict):
        errors["data"] = [_("data 必須是物件。")]
    if errors:
        first = next(iter(errors))  # the code is the first field's at fault, in the order checked
        raise Rejected(errors, "future_occurred_at" if future and first == "occurred_at" else None)
    return event_id, type_, occurred_at, data
