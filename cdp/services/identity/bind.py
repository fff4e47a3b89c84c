"""Members (identify_member) and bindings of channel contacts to customers (bind_contact)."""

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import ServiceError

from ...events import record_events
from ...models import (
    Binding,
    BindingMethod,
    Contact,
    Customer,
    CustomerEvent,
    EventType,
)
from .merge import _merge_locked
from .resolve import BindResult, Identity, _lock_customers, _lock_identity, _update, normalize_identity, resolve


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
        raise ServiceError(_("需要會員編號、電話或 Email 其中之一。"), field="member_id", code="missing_identity")
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
        from ..attributes import set_attributes

        set_attributes(customer=customer, values=attributes, source=source, occurred_at=occurred_at)
    return customer


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
        raise ServiceError(_("未知的綁定方式：%(value)s") % {"value": method}, field="method", code="invalid_method")
    identity = normalize_identity(team, member_id=member_id, phone=phone, email=email)
    if not identity:
        raise ServiceError(_("需要會員編號、電話或 Email 其中之一。"), field="member_id", code="missing_identity")
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
            binding = _write_binding(team, contact, customer, method, identity, occurred_at, identity.as_dict())
        return BindResult("bound", customer, merges, binding)

    result = _retrying(run)
    contact.customer = result.customer
    return result


def bind_to_contact(*, contact, source, method, occurred_at=None):
    """Bind `contact` to the customer of another contact of the team (`source`): OmniLink binds the contact a
    customer reached on a second channel to the customer the brand knows on the first. The merge rules are
    bind_contact's: the two customers merge, the survivor is the one holding a member id (the source's customer
    when neither or both hold the same), different member ids → "member_id_conflict" and nothing changes. A Binding
    (with the customer's identity keys), the "binding" timeline event and the MergeRecord are written as usual; the
    same binding again is "already_bound". Raises Contact.DoesNotExist when either contact is gone."""
    if contact.team_id != source.team_id:
        raise ValueError("Contacts of different teams are never bound together.")
    team = contact.team
    method = BindingMethod(method)
    occurred_at = occurred_at or timezone.now()

    def run():
        current_id = Contact.objects.filter(pk=contact.pk).values_list("customer_id", flat=True).get()
        source_id = Contact.objects.filter(pk=source.pk).values_list("customer_id", flat=True).get()
        locked = _lock_customers(current_id, source_id)
        customer, target = locked[current_id], locked[source_id]
        if customer.merged_into_id is not None or target.merged_into_id is not None:
            raise IntegrityError("customer merged concurrently; retry")
        merges = []
        if target.pk != customer.pk:
            if target.member_id and customer.member_id and target.member_id != customer.member_id:
                return BindResult("member_id_conflict", customer)
            survivor, absorbed = (
                (customer, target) if customer.member_id and not target.member_id else (target, customer)
            )
            evidence = {
                "reason": "binding",
                "contact_id": contact.pk,
                "method": method.value,
                "source_contact_id": source.pk,
            }
            merges.append(_merge_locked(survivor, absorbed, evidence))
            customer = survivor
        contact.customer_id = customer.pk
        existing = Binding.objects.filter(team=team, contact_id=contact.pk, customer_id=customer.pk).exists()
        if existing and not merges:
            return BindResult("already_bound", customer)
        identity = Identity(member_id=customer.member_id or "", phone=customer.phone or "", email=customer.email or "")
        _update(customer, binding_updates(customer, identity, method, occurred_at))
        binding = _write_binding(
            team, contact, customer, method, identity, occurred_at, {"source_contact_id": source.pk}
        )
        return BindResult("bound", customer, merges, binding)

    result = _retrying(run)
    contact.customer = result.customer
    return result


def _write_binding(team, contact, customer, method, identity, occurred_at, data):
    """The Binding row and its "binding" timeline event: one way for bind_contact and bind_to_contact."""
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
                data={"method": method.value, "binding_id": binding.pk, **data},
            )
        ]
    )
    return binding
