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

from core.params import parse_id

from ..events import batched_notifications, record_event, record_events
from ..models import (
    Binding,
    BindingMethod,
    Channel,
    ChannelKind,
    Contact,
    ContactSource,
    Customer,
    CustomerEvent,
    EventReceipt,
    EventType,
    SubscriptionStatus,
    UnsubscribeScope,
)
from ..phones import normalize_phone
from ..quota import schedule_refresh
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
                    raise Rejected({"data.external_id": exc.messages})
        return value


ACCEPTED, DUPLICATE = "accepted", "duplicate"


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
            results[index] = (event_id, exc.errors)
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
            event_id, errors = result
            outcome.rejected.append({"index": index, "id": event_id, "errors": errors})
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
        results[item.index] = (item.event_id, exc.errors)
        return
    except ValidationError as exc:
        batch.contacts = contacts_before
        results[item.index] = (item.event_id, _data_errors(exc))
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
    channel = batch.channels.get(parse_id(data.get("channel")))
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
        pk = parse_id(data.get("customer"))
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
    channel = batch.channels.get(parse_id(data.get("channel")))
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
        channel=batch.channels.get(parse_id(data.get("channel"))),
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


# --- the batched path for identify + binding -------------------------------------------------------------------


class Fallback(Exception):
    """The run meets a state the batched path does not model: roll it back and apply it event by event."""


def _token(obj):
    return obj.pk if obj.pk is not None else ("new", id(obj))


class FastRun:
    """A run of member.identify (without attributes) and binding events applied together.

    Same rules and results as identity.identify_member / identity.bind_contact event by event (the module docs of
    identity.py), but: the identity keys of the whole run are locked in one statement, the customers they name
    and the contacts' customers are read and locked (FOR UPDATE) in one query, each event is decided in memory
    against those rows (so a customer is resolved once, not once here and again in the service), and the writes
    go out in bulk: new customers, changed customers, new contacts, bindings and timeline events, one statement
    each. A merge flushes what is pending and runs identity's merge on the locked rows. Every check that can
    reject an event happens before anything of that event is staged, so a rejected event leaves nothing.
    """

    @staticmethod
    def handles(item):
        if item.type == "binding":
            return True
        return item.type == "member.identify" and not item.data.get("attributes")

    def __init__(self, batch):
        self.batch = batch
        self.team = batch.team
        self.new_customers, self.new_contacts, self.new_bindings, self.events = [], [], [], []
        self.dirty = {}  # id(customer) -> (customer, {fields})
        self.owner = {}  # token(contact) -> customer
        self.bound = set()  # (contact pk, customer pk, member id, phone, email) of existing bindings
        self.staged_bound = []  # (contact, customer, member id, phone, email) of bindings not yet written
        self.created_contact = False

    # -- parsing: everything that can reject an event, before any state is touched --

    def parse(self, item):
        data = item.data
        if item.type == "member.identify":
            member_id, phone, email, name = (_text(data, key) for key in ("member_id", "phone", "email", "name"))
            ident = self._identity(member_id, phone, email)
            return {"ident": ident, "name": str(name or "").strip()[:200]}
        method = data.get("method")
        if method not in BindingMethod.values:
            values = ", ".join(BindingMethod.values)
            raise Rejected({"data.method": [_("綁定方式必須是：%(values)s") % {"values": values}]})
        channel = _channel(self.batch, data)
        external_id = _external_id(self.batch, channel, data)
        member_id, phone, email = (_text(data, key) for key in ("member_id", "phone", "email"))
        return {
            "ident": self._identity(member_id, phone, email),
            "method": BindingMethod(method),
            "channel": channel,
            "external_id": external_id,
        }

    def _identity(self, member_id, phone, email):
        try:
            ident = identity.normalize_identity(self.team, member_id=member_id, phone=phone, email=email)
        except ValidationError as exc:
            raise Rejected(_data_errors(exc))
        if not ident:
            raise Rejected({"data.member_id": [_("需要會員編號、電話或 Email 其中之一。")]})
        return ident

    # -- the run --

    def apply(self, run, accepted, results):
        parsed = []
        for item in run:
            try:
                parsed.append((item, self.parse(item)))
            except Rejected as exc:
                parsed.append((item, exc))
        ops = [(item, op) for item, op in parsed if not isinstance(op, Rejected)]
        self._load([op for _item, op in ops])
        for item, op in parsed:
            if isinstance(op, Rejected):
                results[item.index] = (item.event_id, op.errors)
            elif item.event_id in accepted:
                results[item.index] = DUPLICATE
            else:
                try:
                    if item.type == "member.identify":
                        self._identify(item, op)
                    else:
                        self._bind(item, op)
                except Rejected as exc:
                    results[item.index] = (item.event_id, exc.errors)
                    continue
                accepted.add(item.event_id)
                results[item.index] = ACCEPTED
        self.flush()

    def _load(self, ops):
        team = self.team
        identity.lock_identities(team, [op["ident"] for op in ops])
        known = {}
        for op in ops:
            if "channel" in op:
                contact = self.batch.contacts.get((op["channel"].pk, op["external_id"]))
                if contact is not None:
                    known[contact.pk] = contact
        if known:  # the contacts' customers as of now (after the identity locks)
            for pk, customer_id in (
                Contact.objects.for_team(team).filter(pk__in=list(known)).values_list("pk", "customer_id")
            ):
                known[pk].customer_id = customer_id
        self.customers = identity.CustomerIndex.locked(
            team, [op["ident"] for op in ops], also=[c.customer_id for c in known.values()]
        )
        for contact in known.values():
            customer = self.customers.by_pk.get(contact.customer_id)
            if customer is None or customer.merged_into_id is not None:
                raise Fallback("contact moved concurrently")
            self.owner[_token(contact)] = customer
        if known:
            self.bound = set(
                Binding.objects.for_team(team)
                .filter(contact_id__in=list(known))
                .values_list("contact_id", "customer_id", "member_id", "phone", "email")
            )

    def _update(self, customer, updates):
        changed = {key: value for key, value in updates.items() if getattr(customer, key) != value}
        if not changed:
            return
        changed["updated_at"] = timezone.now()
        for key, value in changed.items():
            self.customers.set(customer, key, value)
        if customer.pk is not None:
            self.dirty.setdefault(id(customer), (customer, set()))[1].update(changed)

    def _new_customer(self, **fields):
        customer = self.customers.new(len(self.new_customers), **fields)
        self.new_customers.append(customer)
        return customer

    def _event(self, customer, type_, occurred_at, data, contact=None, channel=None):
        event = CustomerEvent(
            team=self.team, customer=customer, contact=contact, channel=channel, type=type_, occurred_at=occurred_at
        )
        event.data = data
        self.events.append(event)
        return event

    def _identify(self, item, op):
        """identity.identify_member, in memory."""
        ident, name, occurred_at = op["ident"], op["name"], item.occurred_at
        customer = self.customers.resolve(ident)
        if customer is None:
            customer = self._new_customer(
                member_id=ident.member_id or None,
                phone=ident.phone,
                email=ident.email,
                name=name,
                created_at=occurred_at,
            )
        first_time = not customer.is_member
        self._update(customer, identity.identify_updates(customer, ident, name, occurred_at))
        event_type = EventType.MEMBER_REGISTERED if first_time else EventType.MEMBER_LOGIN
        self._event(customer, event_type, occurred_at, ident.as_dict())

    def _conflict(self, customer):
        return Rejected(
            {
                "data.member_id": [
                    _("會員編號衝突：此聯絡人的顧客已有其他會員編號（%(current)s）。") % {"current": customer.member_id}
                ]
            }
        )

    def _bind(self, item, op):
        """The events API's binding (contact upsert) + identity.bind_contact, in memory."""
        ident, method, channel, external_id = op["ident"], op["method"], op["channel"], op["external_id"]
        occurred_at = item.occurred_at
        key = (channel.pk, external_id)
        contact = self.batch.contacts.get(key)
        if contact is None:
            # A new contact whose member already has a customer is born attached to it (no customer, no merge).
            known = self.customers.resolve(ident)
            phone = external_id if channel.kind == ChannelKind.WHATSAPP and external_id.startswith("+") else ""
            if known is None:
                known = self._new_customer(
                    name="", phone=phone if channel.kind == "whatsapp" else "", created_at=occurred_at
                )
            contact = Contact(
                team=self.team,
                channel=channel,
                customer=known,
                external_id=external_id,
                phone=phone,
                business_scoped_id="" if phone or channel.kind != ChannelKind.WHATSAPP else external_id,
                display_name="",
                status=SubscriptionStatus.SUBSCRIBED,
                subscribed_at=occurred_at,
                status_changed_at=occurred_at,
                source=SOURCE_FOR_METHOD[method],
                source_detail="",
                created_at=occurred_at,
            )
            self.new_contacts.append(contact)
            self.owner[_token(contact)] = known
            self.batch.contacts[key] = contact
            self._event(
                known,
                EventType.CONTACT_CREATED,
                occurred_at,
                {"source": contact.source, "channel_kind": channel.kind, "status": contact.status},
                contact=contact,
                channel=channel,
            )
        customer = self.owner[_token(contact)]
        target = self.customers.resolve(ident)
        if ident.member_id and customer.member_id and customer.member_id != ident.member_id:
            raise self._conflict(customer)
        merged = False
        if target is not None and target is not customer:
            if target.member_id and customer.member_id and target.member_id != customer.member_id:
                raise self._conflict(customer)
            survivor, absorbed = (
                (customer, target) if customer.member_id and not target.member_id else (target, customer)
            )
            self.flush()  # the merge works on written rows (and the evidence names the contact's id)
            evidence = {"reason": "binding", "contact_id": contact.pk, "method": method.value, **ident.as_dict()}
            self._merge(survivor, absorbed, evidence)
            customer, merged = survivor, True
        existing = self._is_bound(contact, customer, ident)
        if existing and not merged:
            return  # already bound: nothing changes
        self._update(customer, identity.binding_updates(customer, ident, method, occurred_at))
        if not existing:
            binding = Binding(
                team=self.team,
                contact=contact,
                customer=customer,
                method=method.value,
                member_id=ident.member_id,
                phone=ident.phone,
                email=ident.email,
                bound_at=occurred_at,
            )
            self.new_bindings.append(binding)
            self.staged_bound.append((contact, customer, ident.member_id, ident.phone, ident.email))
            event = self._event(
                customer,
                EventType.BINDING,
                occurred_at,
                {"method": method.value, "binding_id": None, **ident.as_dict()},
                contact=contact,
                channel=channel,
            )
            event._binding = binding

    def _is_bound(self, contact, customer, ident):
        wanted = (contact, customer, ident.member_id, ident.phone, ident.email)
        for staged in self.staged_bound:
            if staged[0] is wanted[0] and staged[1] is wanted[1] and staged[2:] == wanted[2:]:
                return True
        if contact.pk is None or customer.pk is None:
            return False
        return (contact.pk, customer.pk, ident.member_id, ident.phone, ident.email) in self.bound

    def _merge(self, survivor, absorbed, evidence):
        self.flush()
        identity._merge_locked(survivor, absorbed, evidence)
        self.customers.absorbed(absorbed)
        self.customers.reindex(survivor)
        for token, owner in self.owner.items():
            if owner is absorbed:
                self.owner[token] = survivor
        self.bound = {(row[0], survivor.pk, *row[2:]) if row[1] == absorbed.pk else row for row in self.bound}

    def flush(self):
        """Write what is staged: one statement per table."""
        if self.new_customers:
            Customer.objects.bulk_create(self.new_customers)
            for customer in self.new_customers:
                self.customers.by_pk[customer.pk] = customer
                self.customers.order[id(customer)] = (customer.created_at, 0, customer.pk)
            self.new_customers = []
        if self.dirty:
            rows = [customer for customer, _fields in self.dirty.values()]
            fields = sorted(set().union(*(fields for _customer, fields in self.dirty.values())))
            Customer.objects.bulk_update(rows, fields)
            self.dirty = {}
        if self.new_contacts:
            for contact in self.new_contacts:
                contact.customer = self.owner.pop(("new", id(contact)))
            Contact.objects.bulk_create(self.new_contacts)
            for contact in self.new_contacts:
                self.owner[contact.pk] = contact.customer
            self.new_contacts = []
            self.created_contact = True
        if self.new_bindings:
            Binding.objects.bulk_create(self.new_bindings)
            self.bound.update((c.pk, cu.pk, *rest) for c, cu, *rest in self.staged_bound)
            self.new_bindings, self.staged_bound = [], []
        if self.events:
            for event in self.events:
                binding = getattr(event, "_binding", None)
                if binding is not None:
                    event.data = {**event.data, "binding_id": binding.pk}
            record_events(self.events)
            self.events = []
        if self.created_contact:
            schedule_refresh(self.team.pk)
