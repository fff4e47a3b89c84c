"""The batched path for runs of member.identify + binding: a few set-based queries per run."""

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from ...events import record_events
from ...models import (
    Binding,
    BindingMethod,
    ChannelKind,
    Contact,
    Customer,
    CustomerEvent,
    EventType,
    SubscriptionStatus,
)
from ...quota import schedule_refresh
from .. import identity
from .checks import ACCEPTED, DUPLICATE, SOURCE_FOR_METHOD, Rejected, _data_errors, check_pixel, contact_source
from .handlers import _channel, _external_id, _text


class Fallback(Exception):
    """The run meets a state the batched path does not model: roll it back and apply it event by event."""


def _token(obj):
    return obj.pk if obj.pk is not None else ("new", id(obj))


class FastRun:
    """A run of member.identify (without attributes) and binding events applied together.

    Same rules and results as identity.identify_member / identity.bind_contact event by event (the module docs of
    cdp.services.identity), but: the identity keys of the whole run are locked in one statement, the customers they name
    and the contacts' customers are read and locked (FOR UPDATE) in one query, each event is decided in memory
    against those rows (so a customer is resolved once, not once here and again in the service), and the writes
    go out in bulk: new customers, changed customers, new contacts, bindings and timeline events, one statement
    each. A merge flushes what is pending and runs identity's merge on the locked rows. Every check that can
    reject an event happens before anything of that event is staged, so a rejected event leaves nothing.
    """

    @staticmethod
    def handles(item):
        if item.type == "binding":
            return item.data.get("token") in (None, "")  # a token binding goes event by event
        # member.identify naming a channel is Pixel (a WhatsApp contact too): applied alone (handlers._identify).
        return item.type == "member.identify" and not item.data.get("attributes") and not item.data.get("channel")

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
        check_pixel(channel, method)
        external_id = _external_id(self.batch, channel, data)
        member_id, phone, email = (_text(data, key) for key in ("member_id", "phone", "email"))
        return {
            "ident": self._identity(member_id, phone, email),
            "method": BindingMethod(method),
            "channel": channel,
            "external_id": external_id,
            "source": contact_source(data, SOURCE_FOR_METHOD[BindingMethod(method)]),
        }

    def _identity(self, member_id, phone, email):
        try:
            ident = identity.normalize_identity(self.team, member_id=member_id, phone=phone, email=email)
        except ValidationError as exc:
            raise Rejected(_data_errors(exc), cause=exc)
        if not ident:
            raise Rejected({"data.member_id": [_("需要會員編號、電話或 Email 其中之一。")]}, "missing_identity")
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
                results[item.index] = (item.event_id, op.errors, op.code)
            elif item.event_id in accepted:
                results[item.index] = DUPLICATE
            else:
                try:
                    if item.type == "member.identify":
                        self._identify(item, op)
                    else:
                        self._bind(item, op)
                except Rejected as exc:
                    results[item.index] = (item.event_id, exc.errors, exc.code)
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
            },
            "member_id_conflict",
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
                source=op["source"],
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
