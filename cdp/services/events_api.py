"""POST /api/v1/events: the website / shop / pixel feed, applied in batches.

Contract (kept exactly; integrators rely on it):
  request  {"events": [{"id": "<client event id, unique per team>", "type": "...", "occurred_at": "<ISO 8601>",
                        "data": {...}}]}                              at most 1,000 events
  response {"accepted": N, "duplicates": N, "rejected": [{"index": i, "id": "...", "errors": {field: [msg]}}]}

Each event is applied atomically in its own savepoint together with its EventReceipt row: a bad event is rejected
(nothing of it is written, and its id is not consumed, so a corrected event with the same id can be sent again),
the good ones of the same batch still apply, and an id already received is a duplicate that changes nothing.
Error fields are "id", "type", "occurred_at", "data" or "data.<field>" (attribute errors: "data.attributes.<key>").

occurred_at (default: now) is when it happened: a naive time is read in the team's time zone; more than 10
minutes in the future is rejected. Timelines, bindings, analytics and journey triggers use it.

Customer references (checkout.completed, tag.add / tag.remove, attribute.set, system.*): one of
  "member_id"  — the member's customer, created if the member is not known yet;
  "customer"   — a customer id of the team (a customer merged into another resolves to the survivor);
  "channel" + "external_id" — an existing contact's customer.
"""

import datetime as dt
import re
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from ..events import batched_notifications, record_event
from ..models import (
    BindingMethod,
    Channel,
    ChannelKind,
    Contact,
    ContactSource,
    Customer,
    EventReceipt,
    EventType,
    UnsubscribeScope,
)
from ..phones import normalize_phone
from . import attributes, contacts, customers, identity, tags

MAX_EVENTS = 1000
MAX_ID = 128
FUTURE_TOLERANCE = dt.timedelta(minutes=10)
SYSTEM_RE = re.compile(r"^system\.[a-z0-9_]{1,60}$")

TYPES = ["member.identify", "binding", "checkout.completed", "tag.add", "tag.remove", "attribute.set", "unsubscribe"]

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


class Rejected(Exception):
    def __init__(self, errors):
        self.errors = errors
        super().__init__(str(errors))


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
                channel = self.channels.get(_int(data.get("channel")))
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
                    raise Rejected({"data.external_id": exc.messages})
        return value


def _int(value):
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def process(team, body):
    """Apply a request body; raises BadBody for a 400, otherwise returns the Outcome."""
    events = check_body(body)
    outcome = Outcome()
    batch = Batch(team, events)
    in_batch = set()
    with transaction.atomic(), batched_notifications():
        for index, event in enumerate(events):
            event_id = event.get("id") if isinstance(event, dict) else None
            try:
                event_id, type_, occurred_at, data = _check_event(batch, event)
                if event_id in batch.seen or event_id in in_batch:
                    outcome.duplicates += 1
                    continue
                with transaction.atomic():
                    if not _claim(team, event_id, type_, batch.now):
                        outcome.duplicates += 1  # received concurrently by another request
                        continue
                    apply_event(batch, type_, occurred_at, data)
                in_batch.add(event_id)
                outcome.accepted += 1
            except Rejected as exc:
                outcome.rejected.append({"index": index, "id": event_id, "errors": exc.errors})
            except ValidationError as exc:
                outcome.rejected.append({"index": index, "id": event_id, "errors": _data_errors(exc)})
    return outcome


def _claim(team, event_id, type_, now):
    """Insert the receipt unless the id is known (one statement, no savepoint). True when this call claimed it."""
    table = EventReceipt._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (team_id, event_id, type, received_at) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (team_id, event_id) DO NOTHING RETURNING id",
            [team.pk, event_id, type_, now],
        )
        return cursor.fetchone() is not None


def _data_errors(exc, prefix="data"):
    if hasattr(exc, "error_dict"):
        return {f"{prefix}.{key}": messages for key, messages in exc.message_dict.items()}
    return {prefix: exc.messages}


def _check_event(batch, event):
    if not isinstance(event, dict):
        raise Rejected({"event": [_("每個事件必須是物件。")]})
    errors = {}
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
            occurred_at = parsed
    data = event.get("data", {})
    if data is None:
        data = {}
    if not isinstance(data, dict):
        errors["data"] = [_("data 必須是物件。")]
    if errors:
        raise Rejected(errors)
    return event_id, type_, occurred_at, data


# --- the types -----------------------------------------------------------------------------------------------


def apply_event(batch, type_, occurred_at, data):
    if type_.startswith("system."):
        return _system(batch, type_[len("system.") :], occurred_at, data)
    return HANDLERS[type_](batch, occurred_at, data)


def _text(data, key):
    value = data.get(key, "")
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise Rejected({f"data.{key}": [_("必須是文字。")]})
    return value.strip()


def _identify(batch, occurred_at, data):
    attrs = data.get("attributes") or {}
    if not isinstance(attrs, dict):
        raise Rejected({"data.attributes": [_("自訂屬性必須是 {key: value} 物件。")]})
    if attrs:
        try:
            attributes.validate_values(batch.team, attrs)
        except ValidationError as exc:
            raise Rejected(_data_errors(exc, "data.attributes"))
    identity.identify_member(
        team=batch.team,
        member_id=_text(data, "member_id"),
        phone=_text(data, "phone"),
        email=_text(data, "email"),
        name=_text(data, "name"),
        attributes=attrs,
        occurred_at=occurred_at,
        source="api",
    )


def _channel(batch, data):
    channel = batch.channels.get(_int(data.get("channel")))
    if channel is None:
        raise Rejected({"data.channel": [_("找不到渠道：%(value)s") % {"value": data.get("channel")}]})
    return channel


def _external_id(batch, channel, data):
    raw = _text(data, "external_id")
    if not raw:
        raise Rejected({"data.external_id": [_("需要聯絡人的渠道 ID（external_id）。")]})
    if len(raw) > 128:
        raise Rejected({"data.external_id": [_("external_id 最多 128 個字元。")]})
    return batch.external_id(channel, raw)


def _existing_contact(batch, data):
    channel = _channel(batch, data)
    external_id = _external_id(batch, channel, data)
    contact = batch.contacts.get((channel.pk, external_id))
    if contact is None:
        contact = Contact.objects.for_team(batch.team).filter(channel=channel, external_id=external_id).first()
    if contact is None:
        raise Rejected({"data.external_id": [_("此渠道沒有這位聯絡人：%(value)s") % {"value": external_id}]})
    return contact


def _binding(batch, occurred_at, data):
    method = data.get("method")
    if method not in BindingMethod.values:
        raise Rejected({"data.method": [_("綁定方式必須是：%(values)s") % {"values": ", ".join(BindingMethod.values)}]})
    channel = _channel(batch, data)
    external_id = _external_id(batch, channel, data)
    contact = batch.contacts.get((channel.pk, external_id))
    if contact is None:
        phone = external_id if channel.kind == ChannelKind.WHATSAPP and external_id.startswith("+") else ""
        # A new contact whose member already has a customer is born attached to it (no customer, no merge).
        known = identity.resolve(
            batch.team,
            identity.normalize_identity(
                batch.team, member_id=_text(data, "member_id"), phone=_text(data, "phone"), email=_text(data, "email")
            ),
        )
        contact = contacts.upsert_contact(
            customer=known,
            known_missing=(channel.pk, external_id) in batch.looked_up,
            channel=channel,
            external_id=external_id,
            occurred_at=occurred_at,
            source=SOURCE_FOR_METHOD[BindingMethod(method)],
            phone=phone,
            business_scoped_id="" if phone or channel.kind != ChannelKind.WHATSAPP else external_id,
        ).contact
        batch.contacts[(channel.pk, external_id)] = contact
    result = identity.bind_contact(
        contact=contact,
        method=method,
        member_id=_text(data, "member_id"),
        phone=_text(data, "phone"),
        email=_text(data, "email"),
        occurred_at=occurred_at,
    )
    if result.status == "member_id_conflict":
        raise Rejected(
            {
                "data.member_id": [
                    _("會員編號衝突：此聯絡人的顧客已有其他會員編號（%(current)s）。")
                    % {"current": result.customer.member_id}
                ]
            }
        )


def resolve_reference(batch, data):
    """The customer an event refers to (see the module docs)."""
    member_id = _text(data, "member_id")
    if member_id:
        found = Customer.objects.for_team(batch.team).active().filter(member_id=member_id).first()
        if found is not None:
            return found
        ident = identity.normalize_identity(batch.team, member_id=member_id)
        try:
            with transaction.atomic():
                return Customer.objects.create(team=batch.team, member_id=ident.member_id)
        except IntegrityError:
            return Customer.objects.for_team(batch.team).active().get(member_id=member_id)
    if data.get("customer") not in (None, ""):
        pk = _int(data.get("customer"))
        customer = Customer.objects.for_team(batch.team).filter(pk=pk).first() if pk else None
        hops = 0
        while customer is not None and customer.merged_into_id and hops < 20:
            customer = Customer.objects.get(pk=customer.merged_into_id)
            hops += 1
        if customer is None:
            raise Rejected({"data.customer": [_("找不到顧客：%(value)s") % {"value": data.get("customer")}]})
        return customer
    if data.get("channel") not in (None, "") or data.get("external_id"):
        return Customer.objects.get(pk=_existing_contact(batch, data).customer_id)
    raise Rejected({"data": [_("需要顧客參照：member_id、customer，或 channel + external_id。")]})


def _checkout(batch, occurred_at, data):
    customer = resolve_reference(batch, data)
    customers.record_checkout(
        customer=customer,
        order_id=_text(data, "order_id"),
        amount=data.get("amount"),
        currency=data.get("currency") or batch.team.currency,
        items=data.get("items"),
        occurred_at=occurred_at,
    )


def _tag_names(data):
    names = data.get("tags")
    if not isinstance(names, list) or not names:
        raise Rejected({"data.tags": [_("需要標籤清單（tags）。")]})
    return names


def _tag_add(batch, occurred_at, data):
    names = _tag_names(data)
    customer = resolve_reference(batch, data)
    channel = batch.channels.get(_int(data.get("channel")))
    tags.add_tags(customer=customer, names=names, source="api", channel=channel, occurred_at=occurred_at)


def _tag_remove(batch, occurred_at, data):
    names = _tag_names(data)
    customer = resolve_reference(batch, data)
    tags.remove_tags(customer=customer, names=names, source="api", occurred_at=occurred_at)


def _attribute_set(batch, occurred_at, data):
    values = data.get("attributes")
    if not isinstance(values, dict) or not values:
        raise Rejected({"data.attributes": [_("需要自訂屬性 {key: value}（attributes）。")]})
    customer = resolve_reference(batch, data)
    try:
        attributes.set_attributes(customer=customer, values=values, source="api", occurred_at=occurred_at)
    except ValidationError as exc:
        raise Rejected(_data_errors(exc, "data.attributes"))


def _unsubscribe(batch, occurred_at, data):
    scope = data.get("scope")
    if scope not in UnsubscribeScope.values:
        raise Rejected({"data.scope": [_("scope 必須是：%(values)s") % {"values": ", ".join(UnsubscribeScope.values)}]})
    contact = _existing_contact(batch, data)
    contacts.set_unsubscribed(contact, scope=scope, unsubscribed=True, occurred_at=occurred_at)


REFERENCE_KEYS = ("member_id", "customer", "channel", "external_id")


def _system(batch, name, occurred_at, data):
    customer = resolve_reference(batch, data)
    payload = {key: value for key, value in data.items() if key not in REFERENCE_KEYS}
    record_event(
        team=batch.team,
        customer=customer,
        channel=batch.channels.get(_int(data.get("channel"))),
        type=EventType.SYSTEM,
        occurred_at=occurred_at,
        data={**payload, "name": name},
    )


HANDLERS = {
    "member.identify": _identify,
    "binding": _binding,
    "checkout.completed": _checkout,
    "tag.add": _tag_add,
    "tag.remove": _tag_remove,
    "attribute.set": _attribute_set,
    "unsubscribe": _unsubscribe,
}
