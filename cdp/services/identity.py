"""Identity resolution: website members, bindings of channel contacts to them, merging and un-merging customers.

Rules (the README and the API docs repeat them):

Matching. An identity is (member id, phone, email); phone is normalised to E.164 with the team's default region,
email is lower-cased. The customer an identity names is looked up in this order, first hit wins:
  1. the active customer holding the member id;
  2. if the team's `match_by_phone` is on: the oldest active customer with that phone whose member id is empty
     or equal to the identity's;
  3. if the team's `match_by_email` is on: the same by email.
Only that one customer is used (other customers sharing a phone or email are not swept in).

Binding a contact (bind_contact). Let C be the contact's current customer and T the customer the identity names:
  - if C and the identity carry different member ids → "member_id_conflict", nothing changes;
  - if T is missing or is C → C takes the identity (fills its empty member id / phone / email);
  - otherwise C and T merge; the survivor is the one holding a member id (T when both are empty — the
    identity's customer); different member ids on C and T → "member_id_conflict", nothing changes.
  A Binding row (method, occurred_at) and a "binding" timeline event are written, the customer is marked bound
  (first-bound time/method = the earliest binding) and, when a member id is given, a member. The same binding
  again (same contact, same customer, same identity) is "already_bound" and writes nothing.

Merging (merge_customers) unions contacts, tags, bindings, orders and the timeline into the survivor; attribute
conflicts take the most recently written value (AttributeValue.updated_at, survivor on a tie); points add up;
interaction / checkout times take the latest; bound and member flags are OR'ed with the earliest first-bound /
member-since kept; the survivor's empty member id / phone / email / name are filled from the absorbed customer.
Customers with different non-empty member ids are never merged (MemberIdConflict). The absorbed row stays, with
`merged_into` set, and a MergeRecord keeps the evidence and a snapshot of both customers.

Un-merging (unmerge) restores the absorbed customer from the snapshot (fields, contacts, tags, attribute values,
bindings, orders, timeline) and the survivor's own fields as they were before the merge. What happened after the
merge is attributed like this: anything tied to one of the absorbed customer's contacts (bindings of those
contacts, timeline events of those contacts) goes back with the contact; tags, attribute values and interaction
times changed after the merge stay on the survivor, and so do identity fields (member id, phone, email, name,
membership) written since when the member the survivor then holds is its own (not the absorbed customer's, whose
logins they were otherwise); points earned or spent after the merge stay on the survivor
(the absorbed customer gets back exactly its balance at merge time, the survivor keeps the rest, never below 0).
A merge whose survivor has since been absorbed by another merge cannot be undone until that one is.

Concurrency: on PostgreSQL each identity key (member id, phone, email) is serialised with a transaction-level
advisory lock, the customers touched are locked with SELECT ... FOR UPDATE in id order, and the partial unique
constraint on (team, member_id) is the backstop (an IntegrityError retries the resolution once more).
"""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from ..events import announce, record_events
from ..models import (
    AttributeValue,
    Binding,
    BindingMethod,
    Contact,
    Customer,
    CustomerEvent,
    CustomerTag,
    EventType,
    MergeRecord,
    Order,
)
from ..phones import normalize_email, normalize_phone


class MemberIdConflict(Exception):
    """Two customers carry different non-empty member ids: they are different people and are never merged."""

    def __init__(self, member_ids):
        self.member_ids = tuple(member_ids)
        super().__init__(f"member id conflict: {' / '.join(self.member_ids)}")


class UnmergeError(Exception):
    """The merge cannot be undone (already undone, or its survivor has since been merged into another)."""


@dataclass
class Identity:
    member_id: str = ""
    phone: str = ""
    email: str = ""

    def __bool__(self):
        return bool(self.member_id or self.phone or self.email)

    def as_dict(self):
        return {k: v for k, v in (("member_id", self.member_id), ("phone", self.phone), ("email", self.email)) if v}


@dataclass
class BindResult:
    status: str  # "bound" | "already_bound" | "member_id_conflict"
    customer: Customer
    merges: list = field(default_factory=list)
    binding: Binding | None = None


MAX_MEMBER_ID = 128


def normalize_identity(team, *, member_id="", phone="", email=""):
    """Normalise and validate; raises ValidationError keyed by field ("member_id", "phone", "email")."""
    errors = {}
    member_id = str(member_id or "").strip()
    if len(member_id) > MAX_MEMBER_ID:
        errors["member_id"] = [_("會員編號最多 %(n)s 個字元。") % {"n": MAX_MEMBER_ID}]
    try:
        phone = normalize_phone(str(phone or ""), team.default_region or "TW")
    except ValidationError as exc:
        errors["phone"] = exc.messages
    try:
        email = normalize_email(str(email or ""))
    except ValidationError:
        errors["email"] = [_("無效的 Email：%(value)s") % {"value": email}]
    if errors:
        raise ValidationError(errors)
    return Identity(member_id=member_id, phone=phone, email=email)


# --- locking -------------------------------------------------------------------------------------------------


def _identity_keys(team, identity):
    return [
        int.from_bytes(
            hashlib.blake2b(f"{team.pk}:{kind}:{value}".encode(), digest_size=8).digest(), "big", signed=True
        )
        for kind, value in identity.as_dict().items()
    ]


def _lock_identity(team, identity):
    """Serialise concurrent work on the same identity keys (PostgreSQL advisory locks, held to commit)."""
    lock_identities(team, [identity])


def lock_identities(team, identities):
    """The advisory locks of many identities in one statement, in key order (so two batches cannot deadlock)."""
    if connection.vendor != "postgresql":
        return
    keys = sorted({key for identity in identities for key in _identity_keys(team, identity)})
    if keys:
        with connection.cursor() as cursor:
            # unnest keeps the array's order; one parameter however many keys (a chunk takes up to 750)
            cursor.execute("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%s::bigint[]) AS k", [keys])


def _lock_customers(*pks):
    """Lock the given customers in id order (deadlock-free) and return them fresh, as a dict by pk."""
    pks = sorted({pk for pk in pks if pk})
    if connection.vendor == "postgresql":
        # Every binding and merge starts here: a fixed statement skips the ORM's build (~0.3 ms of a ~5 ms merge).
        rows = Customer.objects.raw(
            f"SELECT * FROM {_table(Customer)} WHERE id = ANY(%s) ORDER BY id FOR UPDATE", [pks]
        )
    else:
        rows = Customer.objects.select_for_update().filter(pk__in=pks).order_by("pk")
    return {customer.pk: customer for customer in rows}


# --- resolution ----------------------------------------------------------------------------------------------


def resolve(team, identity, *, exclude_member_conflicts=True):
    """The active customer the identity names (see the module docs for the order), or None."""
    active = Customer.objects.for_team(team).active()
    if identity.member_id:
        found = active.filter(member_id=identity.member_id).first()
        if found is not None:
            return found
    compatible = Q(member_id__isnull=True) | Q(member_id="")
    if identity.member_id:
        compatible |= Q(member_id=identity.member_id)
    if identity.phone and team.match_by_phone:
        found = active.filter(compatible, phone=identity.phone).order_by("created_at", "pk").first()
        if found is not None:
            return found
    if identity.email and team.match_by_email:
        found = active.filter(compatible, email=identity.email).order_by("created_at", "pk").first()
        if found is not None:
            return found
    return None


class CustomerIndex:
    """The customers a batch may touch, locked, with the indexes resolve() uses, kept current in memory as the
    batch decides: the events API's batched path and the CSV import's member rows resolve many identities
    with the same rules as resolve(), one read for all of them."""

    KEYS = ("member_id", "phone", "email")

    def __init__(self, team, rows):
        self.team = team
        self.by_pk = {}
        self.index = {key: {} for key in self.KEYS}
        self.order = {}
        for customer in rows:
            self.add(customer)

    @classmethod
    def locked(cls, team, identities, also=()):
        """Lock (FOR UPDATE, id order) and index the active customers `identities` can name, plus customers `also`
        (pks). The caller holds the identities' advisory locks (lock_identities)."""
        wanted = Q(pk__in=list(also))
        member_ids = {i.member_id for i in identities if i.member_id}
        phones = {i.phone for i in identities if i.phone}
        emails = {i.email for i in identities if i.email}
        if member_ids:
            wanted |= Q(member_id__in=member_ids, merged_into__isnull=True)
        if phones and team.match_by_phone:
            wanted |= Q(phone__in=phones, merged_into__isnull=True)
        if emails and team.match_by_email:
            wanted |= Q(email__in=emails, merged_into__isnull=True)
        rows = list(Customer.objects.for_team(team).select_for_update().filter(wanted).order_by("pk"))
        for customer in rows:
            customer.team = team
        return cls(team, rows)

    def add(self, customer):
        if customer.pk is not None:
            self.by_pk[customer.pk] = customer
        self.order[id(customer)] = (customer.created_at, 0, customer.pk) if customer.pk else None
        if customer.merged_into_id is None:
            for key in self.KEYS:
                self._index(key, customer, getattr(customer, key))

    def _index(self, key, customer, value):
        if value:
            self.index[key].setdefault(value, []).append(customer)

    def _unindex(self, key, customer, value):
        if value:
            bucket = self.index[key].get(value, [])
            if customer in bucket:
                bucket.remove(customer)

    def new(self, seq, **fields):
        customer = Customer(team=self.team, **fields)
        self.add(customer)
        self.order[id(customer)] = (customer.created_at, 1, seq)  # inserted after every existing row, in order
        return customer

    def set(self, customer, key, value):
        if key in self.KEYS and customer.merged_into_id is None:
            self._unindex(key, customer, getattr(customer, key))
            self._index(key, customer, value)
        setattr(customer, key, value)

    def absorbed(self, customer):
        for key in self.KEYS:
            self._unindex(key, customer, getattr(customer, key))

    def reindex(self, customer):
        for key in self.KEYS:
            self._unindex(key, customer, getattr(customer, key))
            self._index(key, customer, getattr(customer, key))

    def resolve(self, ident):
        """resolve() over the rows in memory (same order of rules)."""
        if ident.member_id:
            for customer in self.index["member_id"].get(ident.member_id, []):
                return customer

        def compatible(customer):
            return not customer.member_id or customer.member_id == ident.member_id

        for key, switch in (("phone", self.team.match_by_phone), ("email", self.team.match_by_email)):
            value = getattr(ident, key)
            if value and switch:
                found = [c for c in self.index[key].get(value, []) if compatible(c)]
                if found:
                    return min(found, key=lambda c: self.order[id(c)])
        return None


def _retrying(func):
    """Run func in a savepoint; on a unique-constraint race, resolve again (at most 3 attempts)."""
    for attempt in range(3):
        try:
            with transaction.atomic():
                return func()
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


# --- members -------------------------------------------------------------------------------------------------


def identify_member(
    *, team, member_id="", phone="", email="", name="", attributes=None, occurred_at=None, source="api"
):
    """A website member registered or logged in: find or create their customer and mark it a member.

    Writes member_registered the first time the customer becomes a member, member_login afterwards. Given
    phone / email / name overwrite the customer's (the website is the member's source of truth); a member id
    never replaces another one. Attributes go through attributes.set_attributes (ValidationError keyed by
    attribute key).
    """
    identity = normalize_identity(team, member_id=member_id, phone=phone, email=email)
    if not identity:
        raise ValidationError({"member_id": [_("需要會員編號、電話或 Email 其中之一。")]})
    occurred_at = occurred_at or timezone.now()
    name = str(name or "").strip()[:200]

    def run():
        _lock_identity(team, identity)
        customer = resolve(team, identity)
        if customer is None:
            customer = Customer.objects.create(
                team=team,
                member_id=identity.member_id or None,
                phone=identity.phone,
                email=identity.email,
                name=name,
                created_at=occurred_at,
            )
        customer = _lock_customers(customer.pk)[customer.pk]
        first_time = not customer.is_member
        _update(customer, identify_updates(customer, identity, name, occurred_at))
        event_type = EventType.MEMBER_REGISTERED if first_time else EventType.MEMBER_LOGIN
        record_events(
            [
                CustomerEvent(
                    team=team,
                    customer=customer,
                    type=event_type,
                    occurred_at=occurred_at,
                    data=identity.as_dict(),
                )
            ]
        )
        return customer

    customer = _retrying(run)
    if attributes:
        from .attributes import set_attributes

        set_attributes(customer=customer, values=attributes, source=source, occurred_at=occurred_at)
    return customer


def _update(customer, updates):
    changed = {key: value for key, value in updates.items() if getattr(customer, key) != value}
    if changed:
        changed["updated_at"] = timezone.now()
        Customer.objects.filter(pk=customer.pk).update(**changed)
        for key, value in changed.items():
            setattr(customer, key, value)
    return changed


# --- bindings ------------------------------------------------------------------------------------------------


def identify_updates(customer, identity, name, occurred_at):
    """What a member login / registration changes on its customer: membership, identity keys, name."""
    updates = {"is_member": True}
    if identity.member_id and not customer.member_id:
        updates["member_id"] = identity.member_id
    for key in ("phone", "email"):
        if getattr(identity, key):
            updates[key] = getattr(identity, key)
    if name:
        updates["name"] = name
    if customer.member_since is None or occurred_at < customer.member_since:
        updates["member_since"] = occurred_at
    return updates


def binding_updates(customer, identity, method, occurred_at):
    """What a binding changes on its customer: bound, identity keys it lacked, first binding, membership."""
    updates = {"is_bound": True}
    if identity.member_id and not customer.member_id:
        updates["member_id"] = identity.member_id
    if identity.phone and not customer.phone:
        updates["phone"] = identity.phone
    if identity.email and not customer.email:
        updates["email"] = identity.email
    if customer.first_bound_at is None or occurred_at < customer.first_bound_at:
        updates["first_bound_at"] = occurred_at
        updates["first_bound_method"] = method.value
    if identity.member_id:
        updates["is_member"] = True
        if customer.member_since is None or occurred_at < customer.member_since:
            updates["member_since"] = occurred_at
    return updates


def bind_contact(*, contact, method, member_id="", phone="", email="", occurred_at=None):
    """Bind a channel contact to a website member identity. See the module docs for the rules."""
    team = contact.team
    try:
        method = BindingMethod(method)
    except ValueError:
        raise ValidationError({"method": [_("未知的綁定方式：%(value)s") % {"value": method}]})
    identity = normalize_identity(team, member_id=member_id, phone=phone, email=email)
    if not identity:
        raise ValidationError({"member_id": [_("需要會員編號、電話或 Email 其中之一。")]})
    occurred_at = occurred_at or timezone.now()

    def run():
        _lock_identity(team, identity)
        current_customer_id = Contact.objects.filter(pk=contact.pk).values_list("customer_id", flat=True).get()
        target = resolve(team, identity)
        locked = _lock_customers(current_customer_id, target.pk if target else None)
        customer = locked[current_customer_id]
        if target is not None:
            target = locked.get(target.pk)
        # The contact may have moved between our read and the lock (a concurrent merge): follow it.
        if customer.merged_into_id is not None or (target is not None and target.merged_into_id is not None):
            raise IntegrityError("customer merged concurrently; retry")
        contact.customer_id = customer.pk
        if identity.member_id and customer.member_id and customer.member_id != identity.member_id:
            return BindResult("member_id_conflict", customer)
        merges = []
        if target is not None and target.pk != customer.pk:
            if target.member_id and customer.member_id and target.member_id != customer.member_id:
                return BindResult("member_id_conflict", customer)
            survivor, absorbed = (
                (customer, target) if customer.member_id and not target.member_id else (target, customer)
            )
            evidence = {"reason": "binding", "contact_id": contact.pk, "method": method.value, **identity.as_dict()}
            merges.append(_merge_locked(survivor, absorbed, evidence))
            customer = survivor
            contact.customer_id = survivor.pk
        existing = Binding.objects.filter(
            team=team,
            contact_id=contact.pk,
            customer_id=customer.pk,
            member_id=identity.member_id,
            phone=identity.phone,
            email=identity.email,
        ).exists()
        if existing and not merges:
            return BindResult("already_bound", customer)
        _update(customer, binding_updates(customer, identity, method, occurred_at))
        binding = None
        if not existing:
            binding = Binding.objects.create(
                team=team,
                contact_id=contact.pk,
                customer=customer,
                method=method.value,
                member_id=identity.member_id,
                phone=identity.phone,
                email=identity.email,
                bound_at=occurred_at,
            )
            record_events(
                [
                    CustomerEvent(
                        team=team,
                        customer=customer,
                        contact_id=contact.pk,
                        channel_id=contact.channel_id,
                        type=EventType.BINDING,
                        occurred_at=occurred_at,
                        data={"method": method.value, "binding_id": binding.pk, **identity.as_dict()},
                    )
                ]
            )
        return BindResult("bound", customer, merges, binding)

    result = _retrying(run)
    contact.customer = result.customer
    return result


# --- merging -------------------------------------------------------------------------------------------------

_FIELDS = [
    "member_id",
    "phone",
    "email",
    "name",
    "is_bound",
    "first_bound_at",
    "first_bound_method",
    "is_member",
    "member_since",
    "last_customer_interaction_at",
    "last_team_marketing_at",
    "last_team_interaction_at",
    "last_checkout_at",
    "points_balance",
    "points_accumulated",
]
_IDENTITY_FIELDS = ["member_id", "phone", "email", "name", "is_member", "member_since"]
_TIME_FIELDS = [
    "last_customer_interaction_at",
    "last_team_marketing_at",
    "last_team_interaction_at",
    "last_checkout_at",
]


def _dump(value):
    return value.isoformat() if isinstance(value, datetime) else value


def _load(key, value):
    if value is not None and (key.endswith("_at") or key in ("member_since", "updated_at")):
        return parse_datetime(value)
    return value


def _fields(customer):
    return {key: _dump(getattr(customer, key)) for key in _FIELDS}


def _later(a, b):
    return max(filter(None, [a, b]), default=None)


def _earlier(a, b):
    return min(filter(None, [a, b]), default=None)


def merge_customers(*, survivor, absorbed, evidence):
    """Merge `absorbed` into `survivor` (both of one team). Raises MemberIdConflict. Returns the MergeRecord."""
    if survivor.team_id != absorbed.team_id:
        raise ValueError("Customers of different teams are never merged.")
    if survivor.pk == absorbed.pk:
        raise ValueError("A customer cannot be merged into itself.")
    with transaction.atomic():
        locked = _lock_customers(survivor.pk, absorbed.pk)
        fresh_survivor, fresh_absorbed = locked[survivor.pk], locked[absorbed.pk]
        if fresh_survivor.merged_into_id or fresh_absorbed.merged_into_id:
            raise ValueError("Only active customers can be merged.")
        record = _merge_locked(fresh_survivor, fresh_absorbed, evidence)
    for key in _FIELDS + ["merged_into_id", "updated_at"]:
        setattr(survivor, key, getattr(fresh_survivor, key))
    absorbed.merged_into_id = survivor.pk
    return record


def _value_row(value):
    return {
        "attribute_id": value.attribute_id,
        "text_value": value.text_value,
        "number_value": None if value.number_value is None else str(value.number_value),
        "datetime_value": _dump(value.datetime_value),
        "bool_value": value.bool_value,
        "updated_at": _dump(value.updated_at),
    }


_VALUE_COLUMNS = ["text_value", "number_value", "datetime_value", "bool_value", "updated_at"]


def _merge_locked(survivor, absorbed, evidence):
    """The merge itself; both customers are locked by the caller. Set-based, whatever the customers carry: on
    PostgreSQL one statement moves every row and writes the merge record, its snapshot and the two "merged"
    timeline events, then one updates the survivor. Consumers of the events are told as usual (events.announce)."""
    if survivor.member_id and absorbed.member_id and survivor.member_id != absorbed.member_id:
        raise MemberIdConflict([survivor.member_id, absorbed.member_id])
    team_id = survivor.team_id
    now = timezone.now()
    before = {"survivor": _fields(survivor), "absorbed": _fields(absorbed)}
    updates = _merged_fields(survivor, absorbed)

    if connection.vendor == "postgresql":
        # The survivor's row is written by the merge statement too, except a member id it takes over: that
        # must wait until the absorbed row has left the active set (partial unique constraint).
        record = _merge_rows_pg(survivor, absorbed, evidence, before, now, updates)
        announce(team_id, record.event_ids)
        for key in _SURVIVOR_COLUMNS:
            setattr(survivor, key, updates.get(key, getattr(survivor, key)))
        survivor.updated_at = now
        updates = {"member_id": updates["member_id"]} if "member_id" in updates else {}
    else:
        snapshot = _move_rows(survivor, absorbed, now)
        record = MergeRecord.objects.create(
            team_id=team_id,
            survivor=survivor,
            absorbed=absorbed,
            evidence=evidence,
            snapshot={**before, **snapshot},
            merged_at=now,
        )
        data = {"merge_id": record.pk, "survivor_id": survivor.pk, "absorbed_id": absorbed.pk, "evidence": evidence}
        record_events(
            [
                CustomerEvent(team_id=team_id, customer=customer, type=EventType.MERGED, occurred_at=now, data=data)
                for customer in (survivor, absorbed)
            ]
        )
    absorbed.merged_into_id = survivor.pk
    # After the absorbed row left the active set: the survivor may take over its member id (partial unique).
    _update(survivor, updates)
    return record


def _merged_fields(survivor, absorbed):
    """The survivor's fields after the merge (the rules in the module docs), from the two locked rows."""
    updates = {
        "points_balance": survivor.points_balance + absorbed.points_balance,
        "points_accumulated": survivor.points_accumulated + absorbed.points_accumulated,
        "is_bound": survivor.is_bound or absorbed.is_bound,
        "is_member": survivor.is_member or absorbed.is_member,
        "member_since": _earlier(survivor.member_since, absorbed.member_since),
    }
    for key in _TIME_FIELDS:
        updates[key] = _later(getattr(survivor, key), getattr(absorbed, key))
    if absorbed.first_bound_at and (
        survivor.first_bound_at is None or absorbed.first_bound_at < survivor.first_bound_at
    ):
        updates["first_bound_at"] = absorbed.first_bound_at
        updates["first_bound_method"] = absorbed.first_bound_method
    for key in ("member_id", "phone", "email", "name"):
        if not getattr(survivor, key) and getattr(absorbed, key):
            updates[key] = getattr(absorbed, key)
    return updates


def _move_rows(survivor, absorbed, now):
    """Portable form (SQLite): read the snapshot, then move / resolve rows with one statement per table."""
    contact_ids = list(Contact.objects.filter(customer=absorbed).values_list("pk", flat=True))
    absorbed_tags = list(
        CustomerTag.objects.filter(customer=absorbed).values("tag_id", "channel_id", "source", "applied_at")
    )
    survivor_tag_ids = set(CustomerTag.objects.filter(customer=survivor).values_list("tag_id", flat=True))
    values = list(AttributeValue.objects.filter(customer_id__in=[survivor.pk, absorbed.pk]))
    survivor_values = {v.attribute_id: v for v in values if v.customer_id == survivor.pk}
    absorbed_values = {v.attribute_id: v for v in values if v.customer_id == absorbed.pk}
    binding_ids = list(Binding.objects.filter(customer=absorbed).values_list("pk", flat=True))
    order_ids = list(Order.objects.filter(customer=absorbed).values_list("pk", flat=True))
    event_ids = list(CustomerEvent.objects.filter(customer=absorbed).values_list("pk", flat=True))
    snapshot = {
        "contact_ids": contact_ids,
        "absorbed_tags": [{**row, "applied_at": _dump(row["applied_at"])} for row in absorbed_tags],
        "survivor_tag_ids": sorted(survivor_tag_ids),
        "absorbed_values": [_value_row(v) for v in absorbed_values.values()],
        "survivor_values": [_value_row(v) for v in survivor_values.values()],
        "binding_ids": binding_ids,
        "order_ids": order_ids,
        "event_ids": event_ids,
    }

    # Contacts, bindings, orders and the timeline move in one UPDATE each.
    Contact.objects.filter(customer=absorbed).update(customer=survivor)
    if binding_ids:
        Binding.objects.filter(customer=absorbed).update(customer=survivor)
    if order_ids:
        Order.objects.filter(customer=absorbed).update(customer=survivor)
    if event_ids:
        CustomerEvent.objects.filter(customer=absorbed).update(customer=survivor)

    # Tags: the survivor's row wins where both have the tag; the rest move.
    if absorbed_tags:
        CustomerTag.objects.filter(customer=absorbed, tag_id__in=survivor_tag_ids).delete()
        CustomerTag.objects.filter(customer=absorbed).update(customer=survivor)

    # Attributes: the most recently written value wins (survivor on a tie); the absorbed rows move or go.
    if absorbed_values:
        newer = []
        for attribute_id, theirs in absorbed_values.items():
            ours = survivor_values.get(attribute_id)
            if ours is not None and theirs.updated_at > ours.updated_at:
                for column in _VALUE_COLUMNS:
                    setattr(ours, column, getattr(theirs, column))
                newer.append(ours)
        if newer:
            AttributeValue.objects.bulk_update(newer, _VALUE_COLUMNS)
        AttributeValue.objects.filter(customer=absorbed, attribute_id__in=list(survivor_values)).delete()
        AttributeValue.objects.filter(customer=absorbed).update(customer=survivor)

    # The absorbed row first (frees its member id under the partial unique constraint), then the survivor.
    Customer.objects.filter(pk=absorbed.pk).update(merged_into=survivor, updated_at=now)
    return snapshot


def _table(model):
    return model._meta.db_table


_MERGE_SQL = None
# What the merge statement writes on the survivor's row: _merged_fields' keys but the member id.
_SURVIVOR_COLUMNS = [key for key in _FIELDS if key != "member_id"]

# An attribute value as the snapshot keeps it (the portable path's _value_row, built by PostgreSQL).
_VALUE_JSON = """coalesce(jsonb_agg(jsonb_build_object('attribute_id', attribute_id, 'text_value', text_value,
    'number_value', number_value::text, 'datetime_value', datetime_value, 'bool_value', bool_value,
    'updated_at', updated_at) ORDER BY attribute_id), '[]')"""


def _merge_sql():
    """PostgreSQL: every row move of a merge, its MergeRecord and its events in ONE statement (data-modifying CTEs).

    All sub-statements see the rows as they were before the statement, so `st` / `v` are the pre-merge state;
    each row is modified by at most one sub-statement (the tag / value moves exclude what the deletes take).
    The snapshot is assembled from what the moves return, so nothing is read twice or sent back and forth.
    """
    global _MERGE_SQL
    if _MERGE_SQL is None:
        t = {
            m.__name__: _table(m)
            for m in (Contact, Binding, Order, CustomerEvent, CustomerTag, AttributeValue, Customer, MergeRecord)
        }
        move = "UPDATE {table} SET customer_id = %(s)s WHERE customer_id = %(a)s RETURNING id"
        tag_cols = "tag_id, channel_id, source, applied_at"

        def ids(cte):
            return f"(SELECT coalesce(jsonb_agg(id ORDER BY id), '[]') FROM {cte})"

        _MERGE_SQL = f"""
WITH c AS ({move.format(table=t["Contact"])}),
b AS ({move.format(table=t["Binding"])}),
o AS ({move.format(table=t["Order"])}),
e AS ({move.format(table=t["CustomerEvent"])}),
st AS (SELECT tag_id FROM {t["CustomerTag"]} WHERE customer_id = %(s)s),
dt AS (DELETE FROM {t["CustomerTag"]} WHERE customer_id = %(a)s AND tag_id IN (SELECT tag_id FROM st)
       RETURNING {tag_cols}),
mt AS (UPDATE {t["CustomerTag"]} SET customer_id = %(s)s
       WHERE customer_id = %(a)s AND tag_id NOT IN (SELECT tag_id FROM st) RETURNING {tag_cols}),
v AS (SELECT customer_id, attribute_id, text_value, number_value, datetime_value, bool_value, updated_at
      FROM {t["AttributeValue"]} WHERE customer_id IN (%(s)s, %(a)s)),
uv AS (UPDATE {t["AttributeValue"]} AS ours SET text_value = x.text_value, number_value = x.number_value,
              datetime_value = x.datetime_value, bool_value = x.bool_value, updated_at = x.updated_at
       FROM v AS x WHERE ours.customer_id = %(s)s AND x.customer_id = %(a)s
       AND x.attribute_id = ours.attribute_id AND x.updated_at > ours.updated_at),
dv AS (DELETE FROM {t["AttributeValue"]} WHERE customer_id = %(a)s
       AND attribute_id IN (SELECT attribute_id FROM v WHERE customer_id = %(s)s)),
mv AS (UPDATE {t["AttributeValue"]} SET customer_id = %(s)s WHERE customer_id = %(a)s
       AND attribute_id NOT IN (SELECT attribute_id FROM v WHERE customer_id = %(s)s)),
ac AS (UPDATE {t["Customer"]} SET merged_into_id = %(s)s, updated_at = %(now)s WHERE id = %(a)s),
sc AS (UPDATE {t["Customer"]} SET {", ".join(f"{c} = %({c})s" for c in _SURVIVOR_COLUMNS)}, updated_at = %(now)s
       WHERE id = %(s)s),
mr AS (
  INSERT INTO {t["MergeRecord"]} (team_id, survivor_id, absorbed_id, evidence, snapshot, merged_at, unmerged_by)
  SELECT %(team)s, %(s)s, %(a)s, %(evidence)s::jsonb, %(before)s::jsonb || jsonb_build_object(
    'contact_ids', {ids("c")},
    'binding_ids', {ids("b")},
    'order_ids', {ids("o")},
    'event_ids', {ids("e")},
    'survivor_tag_ids', (SELECT coalesce(jsonb_agg(tag_id ORDER BY tag_id), '[]') FROM st),
    'absorbed_tags', (SELECT coalesce(jsonb_agg(jsonb_build_object('tag_id', tag_id, 'channel_id', channel_id,
                      'source', source, 'applied_at', applied_at) ORDER BY tag_id), '[]')
                      FROM (SELECT * FROM dt UNION ALL SELECT * FROM mt) tg),
    'survivor_values', (SELECT {_VALUE_JSON} FROM v WHERE customer_id = %(s)s),
    'absorbed_values', (SELECT {_VALUE_JSON} FROM v WHERE customer_id = %(a)s)
  ), %(now)s, ''
  RETURNING *
),
ev AS (
  INSERT INTO {t["CustomerEvent"]} (team_id, customer_id, type, occurred_at, data, created_at)
  SELECT mr.team_id, x.customer_id, %(type)s, mr.merged_at, jsonb_build_object('merge_id', mr.id,
         'survivor_id', mr.survivor_id, 'absorbed_id', mr.absorbed_id, 'evidence', mr.evidence), mr.merged_at
  FROM mr CROSS JOIN (VALUES (%(s)s), (%(a)s)) AS x (customer_id)
  RETURNING id
)
SELECT mr.*, ARRAY(SELECT id FROM ev ORDER BY id) AS event_ids FROM mr
"""
    return _MERGE_SQL


def _merge_rows_pg(survivor, absorbed, evidence, before, now, updates):
    """Run the one-statement merge (data-modifying CTEs always run to completion). Returns the MergeRecord, with
    the ids of the two timeline events it wrote as `event_ids`."""
    params = {
        **{key: updates.get(key, getattr(survivor, key)) for key in _SURVIVOR_COLUMNS},
        "type": EventType.MERGED.value,
        "team": survivor.team_id,
        "s": survivor.pk,
        "a": absorbed.pk,
        "now": now,
        "evidence": json.dumps(evidence),
        "before": json.dumps(before),
    }
    (record,) = MergeRecord.objects.raw(_merge_sql(), params)
    return record


# --- un-merging ----------------------------------------------------------------------------------------------


def unmerge(*, merge_record, actor=""):
    """Undo a merge (see the module docs for what is restored and how later changes are attributed)."""
    with transaction.atomic():
        record = MergeRecord.objects.select_for_update().get(pk=merge_record.pk)
        if record.unmerged_at is not None:
            raise UnmergeError(_("這筆合併已取消過。"))
        locked = _lock_customers(record.survivor_id, record.absorbed_id)
        survivor, absorbed = locked[record.survivor_id], locked[record.absorbed_id]
        if survivor.merged_into_id is not None:
            raise UnmergeError(_("存續顧客之後又被合併，請先取消較新的合併。"))
        if absorbed.merged_into_id != survivor.pk:
            raise UnmergeError(_("被合併的顧客已不在這筆合併中。"))
        snap = record.snapshot
        now = timezone.now()
        contact_ids = snap["contact_ids"]

        # Contacts (and what is tied to them) go back.
        Contact.objects.filter(pk__in=contact_ids, customer=survivor).update(customer=absorbed)
        Binding.objects.filter(Q(pk__in=snap["binding_ids"]) | Q(contact_id__in=contact_ids), customer=survivor).update(
            customer=absorbed
        )
        Order.objects.filter(pk__in=snap["order_ids"], customer=survivor).update(customer=absorbed)
        CustomerEvent.objects.filter(
            Q(pk__in=snap["event_ids"]) | Q(contact_id__in=contact_ids, occurred_at__gte=record.merged_at),
            customer=survivor,
        ).update(customer=absorbed)

        # Tags: the absorbed customer gets its own rows back; the survivor loses the ones only it brought.
        survivor_before = set(snap["survivor_tag_ids"])
        brought = [row["tag_id"] for row in snap["absorbed_tags"] if row["tag_id"] not in survivor_before]
        CustomerTag.objects.filter(customer=survivor, tag_id__in=brought).delete()
        CustomerTag.objects.bulk_create(
            [
                CustomerTag(
                    team_id=record.team_id,
                    customer=absorbed,
                    tag_id=row["tag_id"],
                    channel_id=row["channel_id"],
                    source=row["source"],
                    applied_at=_load("applied_at", row["applied_at"]),
                )
                for row in snap["absorbed_tags"]
            ],
            ignore_conflicts=True,
        )

        # Attributes: values not written since the merge go back to what each customer had.
        _restore_values(record, survivor, absorbed)

        # Fields: the absorbed customer as it was; the survivor as it was, except what was written since the merge
        # and is its own: later interaction times always; identity fields when the member it holds now is its own
        # (held before the merge, or met after it) - a member id going back to the absorbed customer means the
        # logins since were the absorbed member's, so the survivor's identity goes back to before the merge.
        # Points lose what the absorbed customer brought.
        before_s, before_a = snap["survivor"], snap["absorbed"]
        loaded_s = {k: _load(k, v) for k, v in before_s.items()}
        merged = {
            **loaded_s,
            **_merged_fields(Customer(**loaded_s), Customer(**{k: _load(k, v) for k, v in before_a.items()})),
        }
        own_member = bool(survivor.member_id) and survivor.member_id != before_a["member_id"]
        updates = {}
        for key, value in loaded_s.items():
            current = getattr(survivor, key)
            kept = key in _TIME_FIELDS or (own_member and key in _IDENTITY_FIELDS)
            updates[key] = current if kept and current != merged[key] else value
        if own_member and not loaded_s["member_id"]:  # became a member after the merge: since its first login
            updates["is_member"] = True
            updates["member_since"] = (
                CustomerEvent.objects.filter(
                    customer=survivor,
                    type__in=[EventType.MEMBER_REGISTERED, EventType.MEMBER_LOGIN],
                    occurred_at__gte=record.merged_at,
                )
                .order_by("occurred_at")
                .values_list("occurred_at", flat=True)
                .first()
                or survivor.member_since
            )
        for key in ("points_balance", "points_accumulated"):
            updates[key] = max(getattr(survivor, key) - before_a[key], 0)
        later_bindings = Binding.objects.filter(customer=survivor).order_by("bound_at").first()
        if later_bindings is not None:
            updates["is_bound"] = True
            if updates["first_bound_at"] is None or later_bindings.bound_at < updates["first_bound_at"]:
                updates["first_bound_at"] = later_bindings.bound_at
                updates["first_bound_method"] = later_bindings.method
        _update(survivor, updates)  # first: it may hand the member id back (partial unique constraint)
        Customer.objects.filter(pk=absorbed.pk).update(
            merged_into=None, updated_at=now, **{k: _load(k, v) for k, v in before_a.items()}
        )

        record.unmerged_at = now
        record.unmerged_by = str(actor or "")[:200]
        record.save(update_fields=["unmerged_at", "unmerged_by"])
        data = {"merge_id": record.pk, "survivor_id": survivor.pk, "absorbed_id": absorbed.pk, "actor": actor or ""}
        record_events(
            [
                CustomerEvent(
                    team_id=record.team_id, customer=survivor, type=EventType.UNMERGED, occurred_at=now, data=data
                ),
                CustomerEvent(
                    team_id=record.team_id, customer=absorbed, type=EventType.UNMERGED, occurred_at=now, data=data
                ),
            ]
        )
    absorbed.refresh_from_db()
    survivor.refresh_from_db()
    return survivor, absorbed


def _restore_values(record, survivor, absorbed):
    snap = record.snapshot
    current = {v.attribute_id: v for v in AttributeValue.objects.filter(customer=survivor)}
    survivor_before = {row["attribute_id"]: row for row in snap["survivor_values"]}
    untouched = {aid for aid, value in current.items() if value.updated_at <= record.merged_at}
    # Values the absorbed customer brought that nobody wrote since: leave the survivor.
    brought = [row["attribute_id"] for row in snap["absorbed_values"] if row["attribute_id"] not in survivor_before]
    AttributeValue.objects.filter(customer=survivor, attribute_id__in=[a for a in brought if a in untouched]).delete()
    # Survivor values overwritten by the merge and not written since: back to the survivor's own.
    restore = []
    for attribute_id, row in survivor_before.items():
        value = current.get(attribute_id)
        if value is not None and attribute_id in untouched:
            for column in _VALUE_COLUMNS:
                setattr(value, column, _value_from_row(column, row))
            restore.append(value)
    if restore:
        AttributeValue.objects.bulk_update(restore, _VALUE_COLUMNS)
    AttributeValue.objects.bulk_create(
        [
            AttributeValue(
                team_id=record.team_id,
                customer=absorbed,
                attribute_id=row["attribute_id"],
                **{column: _value_from_row(column, row) for column in _VALUE_COLUMNS},
            )
            for row in snap["absorbed_values"]
        ],
        ignore_conflicts=True,
    )


def _value_from_row(column, row):
    value = row[column]
    if value is None:
        return None
    if column in ("datetime_value", "updated_at"):
        return parse_datetime(value)
    if column == "number_value":
        from decimal import Decimal

        return Decimal(value)
    return value
