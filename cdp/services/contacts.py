"""Contact lifecycle: creation, subscription status, per-scope unsubscribes and interaction times.

Webhooks (messaging), imports, the events API and the console all go through these. Every change is
ordered by the platform's event time: an event older than the contact's last status change does not
overwrite it (platforms deliver out of order and redeliver late), and interaction times only move forward.
"""

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import ServiceError

from ..events import record_events
from ..models import (
    Contact,
    ContactSource,
    Customer,
    CustomerEvent,
    EventType,
    SubscriptionStatus,
    UnsubscribeScope,
)
from ..phones import normalize_phone
from ..quota import schedule_refresh


@dataclass
class UpsertResult:
    contact: Contact
    created: bool


def upsert_contact(
    *,
    channel,
    external_id,
    occurred_at=None,
    source=ContactSource.ORGANIC,
    source_detail="",
    display_name="",
    phone="",
    business_scoped_id="",
    status=SubscriptionStatus.SUBSCRIBED,
    customer=None,
    known_missing=False,
):
    """Return the contact for (channel, external_id), creating it (and its own new customer) if missing.

    `customer`: attach a new contact to this existing customer instead of creating one (the events API does so
    when a binding names a member whose customer already exists: the contact is born bound, no merge needed).
    `known_missing`: the caller has just looked the contact up in bulk and not found it (skips one query).

    A new contact's created_at and subscribed_at are `occurred_at` (the platform's event time). Safe under
    concurrency: a racing insert of the same contact resolves to the row that won.
    """
    occurred_at = occurred_at or timezone.now()
    team = channel.team
    existing = None
    if not known_missing:
        existing = Contact.objects.filter(team=team, channel=channel, external_id=external_id).first()
    if existing is not None:
        _backfill(existing, display_name=display_name, phone=phone, occurred_at=occurred_at)
        return UpsertResult(existing, False)
    try:
        with transaction.atomic():
            if customer is None:
                customer = Customer.objects.create(
                    team=team,
                    name=display_name,
                    phone=phone if channel.kind == "whatsapp" else "",
                    created_at=occurred_at,
                )
            contact = Contact.objects.create(
                team=team,
                channel=channel,
                customer=customer,
                external_id=external_id,
                phone=phone,
                business_scoped_id=business_scoped_id,
                display_name=display_name,
                status=status,
                subscribed_at=occurred_at if status == SubscriptionStatus.SUBSCRIBED else None,
                status_changed_at=occurred_at,
                source=source,
                source_detail=source_detail,
                created_at=occurred_at,
            )
            record_events(
                [
                    CustomerEvent(
                        team=team,
                        customer=customer,
                        contact=contact,
                        channel=channel,
                        type=EventType.CONTACT_CREATED,
                        occurred_at=occurred_at,
                        data={"source": source, "channel_kind": channel.kind, "status": status},
                    )
                ]
            )
    except IntegrityError:
        contact = Contact.objects.get(team=team, channel=channel, external_id=external_id)
        return UpsertResult(contact, False)
    schedule_refresh(team.pk)
    return UpsertResult(contact, True)


def _backfill(contact, *, display_name, phone, occurred_at):
    """Fill blanks we learn later, and move created_at back if an older event for this contact arrives late."""
    updates = {}
    if display_name and not contact.display_name:
        updates["display_name"] = display_name
    if phone and not contact.phone:
        updates["phone"] = phone
    if occurred_at < contact.created_at:
        updates["created_at"] = occurred_at
    if updates:
        Contact.objects.filter(pk=contact.pk).update(**updates)
        for key, value in updates.items():
            setattr(contact, key, value)


def _status_for(contact):
    if contact.status == SubscriptionStatus.BLOCKED:
        return SubscriptionStatus.BLOCKED
    scopes = (contact.unsubscribed_broadcast, contact.unsubscribed_web_push, contact.unsubscribed_cart_remarketing)
    return SubscriptionStatus.UNSUBSCRIBED if any(scopes) else SubscriptionStatus.SUBSCRIBED


@transaction.atomic
def follow(contact, *, occurred_at):
    """The contact (re-)subscribed on the platform (LINE follow, Messenger opt-in, ...)."""
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    if contact.status_changed_at and occurred_at < contact.status_changed_at:
        return contact, False
    was = contact.status
    contact.status = SubscriptionStatus.SUBSCRIBED
    contact.status = _status_for(contact)
    contact.status_changed_at = occurred_at
    if was == SubscriptionStatus.BLOCKED or contact.subscribed_at is None:
        contact.subscribed_at = occurred_at
    contact.save(update_fields=["status", "status_changed_at", "subscribed_at"])
    changed = was == SubscriptionStatus.BLOCKED
    if changed:
        record_events(
            [_event(contact, EventType.SUBSCRIBED, occurred_at, {"reason": "follow", "status": contact.status})]
        )
    record_interaction(contact, kind="customer", occurred_at=occurred_at)
    return contact, changed


@transaction.atomic
def block(contact, *, occurred_at):
    """The contact blocked / unfollowed the account: no longer a valid contact. Counted as an unsubscribe."""
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    if contact.status_changed_at and occurred_at < contact.status_changed_at:
        return contact, False
    if contact.status == SubscriptionStatus.BLOCKED:
        return contact, False
    contact.status = SubscriptionStatus.BLOCKED
    contact.status_changed_at = occurred_at
    contact.save(update_fields=["status", "status_changed_at"])
    record_events([_event(contact, EventType.BLOCKED, occurred_at, {"status": contact.status})])
    return contact, True


@transaction.atomic
def set_unsubscribed(contact, *, scope, unsubscribed=True, occurred_at=None):
    """Unsubscribe (or re-subscribe) one scope: broadcast, web_push or cart_remarketing.

    Any unsubscribed scope makes the contact not valid (status 'unsubscribed'); welcome and bot messages are
    unaffected because they do not check these flags.
    """
    scope = UnsubscribeScope(scope)
    occurred_at = occurred_at or timezone.now()
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    field = f"unsubscribed_{scope.value}"
    if getattr(contact, field) == unsubscribed:
        return contact, False
    setattr(contact, field, unsubscribed)
    was = contact.status
    contact.status = _status_for(contact)
    contact.status_changed_at = max(occurred_at, contact.status_changed_at or occurred_at)
    contact.save(update_fields=[field, "status", "status_changed_at"])
    kind = EventType.UNSUBSCRIBED if unsubscribed else EventType.SUBSCRIBED
    record_events(
        [_event(contact, kind, occurred_at, {"scope": scope.value, "status_before": was, "status": contact.status})]
    )
    return contact, True


INTERACTION_FIELDS = {
    "customer": "last_customer_interaction_at",
    "team_marketing": "last_team_marketing_at",
    "team": "last_team_interaction_at",
}


def record_interaction(contact, *, kind, occurred_at):
    """Move the contact's and its customer's last-interaction time forward (never back). Set-based, race-free."""
    field = INTERACTION_FIELDS[kind]
    newer = Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__lt": occurred_at})
    Contact.objects.filter(newer, pk=contact.pk).update(**{field: occurred_at})
    Customer.objects.filter(newer, pk=contact.customer_id).update(**{field: occurred_at})
    setattr(contact, field, max(filter(None, [getattr(contact, field), occurred_at])))


def record_interactions(contact_ids, *, kind, occurred_at):
    """The bulk form, for broadcasts and batch processing: one UPDATE per table."""
    field = INTERACTION_FIELDS[kind]
    newer = Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__lt": occurred_at})
    contacts = Contact.objects.filter(pk__in=contact_ids)
    Customer.objects.filter(newer, pk__in=contacts.values("customer_id")).update(**{field: occurred_at})
    return contacts.filter(newer).update(**{field: occurred_at})


def _event(contact, type_, occurred_at, data):
    return CustomerEvent(
        team_id=contact.team_id,
        customer_id=contact.customer_id,
        contact=contact,
        channel_id=contact.channel_id,
        type=type_,
        occurred_at=occurred_at,
        data=data,
    )


MANUAL_MAX_NUMBERS = 1000


def whatsapp_number(team, raw):
    """A WhatsApp number typed by a person, as E.164 (read with the team's default region). ServiceError if not."""
    try:
        value = normalize_phone(raw, team.default_region or "TW")
    except ValidationError as exc:
        raise ServiceError(exc.messages[0], field="phone", code="invalid_phone") from exc
    if not value:
        raise ServiceError(_("請輸入電話號碼。"), field="phone", code="invalid_phone")
    return value


def split_numbers(text):
    """One number per line, or separated by commas / semicolons (a pasted list)."""
    return [part.strip() for part in re.split(r"[\n,;，；]+", text or "") if part.strip()]


def add_whatsapp_numbers(*, channel, numbers, occurred_at=None):
    """手動新增 (WhatsApp only): add numbers to a WhatsApp channel as contacts with source 手動新增.

    All or nothing: every number is checked first; one bad number refuses the lot with its line named. Numbers
    already on the channel are left untouched. Returns (created, existing)."""
    if channel.kind != "whatsapp":
        raise ServiceError(_("只有 WhatsApp 渠道可以手動新增電話號碼。"), field="channel", code="invalid")
    if not numbers:
        raise ServiceError(_("請輸入至少一個電話號碼。"), field="numbers")
    if len(numbers) > MANUAL_MAX_NUMBERS:
        raise ServiceError(_("一次最多 %(n)s 個號碼。") % {"n": MANUAL_MAX_NUMBERS}, field="numbers")
    normalized, errors = [], []
    for index, raw in enumerate(numbers, start=1):
        try:
            normalized.append(whatsapp_number(channel.team, raw))
        except ServiceError as exc:
            errors.append(_("第 %(n)s 個：%(error)s") % {"n": index, "error": exc.messages[0]})
    if errors:
        raise ServiceError(" ".join(errors[:10]), field="numbers", code="invalid_phone")
    created = existing = 0
    with transaction.atomic():
        for phone in dict.fromkeys(normalized):
            result = upsert_contact(
                channel=channel, external_id=phone, phone=phone, source=ContactSource.MANUAL, occurred_at=occurred_at
            )
            created += result.created
            existing += not result.created
    return created, existing
