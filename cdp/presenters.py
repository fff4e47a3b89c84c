"""Read-side helpers for the customer console: a fixed, small number of queries per page, all team-scoped."""

import uuid
from collections import defaultdict

from django.db.models import Count, Q
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from .filters import decode_cursor
from .models import (
    AttributeValue,
    Binding,
    BindingMethod,
    ChannelKind,
    Contact,
    ContactSource,
    CustomAttribute,
    CustomerEvent,
    CustomerTag,
    EventType,
    MergeRecord,
    Order,
    SubscriptionStatus,
    Tag,
    UnsubscribeScope,
)
from .services import points

TIMELINE_PAGE = 20
STATUS_PILL = {
    SubscriptionStatus.SUBSCRIBED: "pill-green",
    SubscriptionStatus.UNSUBSCRIBED: "pill-amber",
    SubscriptionStatus.BLOCKED: "pill-red",
}
CHANNEL_SHORT = {
    ChannelKind.LINE: "LINE",
    ChannelKind.FACEBOOK: "FB",
    ChannelKind.INSTAGRAM: "IG",
    ChannelKind.WHATSAPP: "WA",
    ChannelKind.WECHAT: "WeChat",
    ChannelKind.WEB: "Web",
}


def customer_rows(team, customers):
    """One dict per customer of the page, with its channels, tags and a few attribute values: 3 queries."""
    ids = [c.pk for c in customers]
    channels, tags, attributes = defaultdict(list), defaultdict(list), defaultdict(list)
    if ids:
        for row in (
            Contact.objects.for_team(team)
            .filter(customer_id__in=ids)
            .order_by("created_at")
            .values("customer_id", "channel__kind", "channel__name", "status")
        ):
            channels[row["customer_id"]].append(
                {
                    "kind": row["channel__kind"],
                    "short": CHANNEL_SHORT.get(row["channel__kind"], row["channel__kind"]),
                    "name": row["channel__name"],
                    "status": row["status"],
                    "status_label": SubscriptionStatus(row["status"]).label,
                }
            )
        for customer_id, name in (
            CustomerTag.objects.for_team(team)
            .filter(customer_id__in=ids)
            .order_by("applied_at")
            .values_list("customer_id", "tag__name")
        ):
            tags[customer_id].append(name)
        for value in (
            AttributeValue.objects.for_team(team)
            .filter(customer_id__in=ids, attribute__archived_at__isnull=True)
            .select_related("attribute")
            .order_by("attribute__key")
        ):
            attributes[value.customer_id].append((value.attribute.label, display_value(value)))
    return [
        {"customer": c, "channels": channels[c.pk], "tags": tags[c.pk], "attributes": attributes[c.pk][:3]}
        for c in customers
    ]


def display_value(value):
    shown = value.value
    if shown is None:
        return "—"
    if value.attribute.type == "boolean":
        return _("是") if shown else _("否")
    if value.attribute.type == "number":
        return f"{shown.normalize():f}"
    if value.attribute.type == "datetime":
        return shown.strftime("%Y-%m-%d %H:%M")
    return str(shown)


def contact_card(team, contact):
    """The seed 001 status card of one channel contact."""
    return {
        "contact": contact,
        "channel": contact.channel,
        "status_pill": STATUS_PILL.get(contact.status, ""),
        "is_facebook": contact.channel.kind == ChannelKind.FACEBOOK,
        "source_label": ContactSource(contact.source).label if contact.source in ContactSource.values else "",
        "scopes": [
            {"value": s.value, "label": s.label, "unsubscribed": contact.is_unsubscribed_from(s.value)}
            for s in UnsubscribeScope
        ],
        "conversation_url": f"/messaging/conversations/{contact.pk}/",
    }


# Who applied a tag (CustomerTag.source, a stored code) in words (issue 20.14); an unknown code is shown as is.
TAG_SOURCES = {
    "console": pgettext_lazy("tag source", "後台"),
    "api": pgettext_lazy("tag source", "API"),
    "journey": pgettext_lazy("tag source", "顧客旅程"),
    "keyword": pgettext_lazy("tag source", "關鍵字自動回覆"),
    "import": pgettext_lazy("tag source", "匯入"),
}


def customer_tags(team, customer):
    rows = list(
        CustomerTag.objects.for_team(team)
        .filter(customer=customer)
        .select_related("tag", "channel")
        .order_by("applied_at")
    )
    for row in rows:
        row.source_label = TAG_SOURCES.get(row.source, row.source)
    return rows


def customer_attributes(team, customer):
    values = {
        v.attribute_id: v
        for v in AttributeValue.objects.for_team(team).filter(customer=customer).select_related("attribute")
    }
    return [
        {"attribute": a, "value": display_value(values[a.pk]) if a.pk in values else "—"}
        for a in CustomAttribute.objects.for_team(team).active()
    ]


def customer_360(team, customer):
    contacts = list(
        Contact.objects.for_team(team).filter(customer=customer).select_related("channel").order_by("created_at")
    )
    events, next_cursor = timeline_page(team, customer)
    merges = list(
        MergeRecord.objects.for_team(team)
        .filter(Q(survivor=customer) | Q(absorbed=customer))
        .select_related("survivor", "absorbed")
        .order_by("-merged_at")
    )
    bindings = list(
        Binding.objects.for_team(team)
        .filter(customer=customer)
        .select_related("contact__channel")
        .order_by("-bound_at")
    )
    orders = Order.objects.for_team(team).filter(customer=customer).aggregate(n=Count("id"))
    return {
        "customer": customer,
        "cards": [contact_card(team, c) for c in contacts],
        "tags": customer_tags(team, customer),
        "attributes": customer_attributes(team, customer),
        "bindings": bindings,
        "binding_method": BindingMethod(customer.first_bound_method).label if customer.first_bound_method else "",
        "merges": merges,
        "events": events,
        "timeline_next": next_cursor,
        "order_count": orders["n"],
        "zone": team.zone,
        **points_card(team, customer),
    }


POINTS_ROWS = 20


def points_card(team, customer):
    """The 360° page's points ledger: the latest rows, and a fresh key so a double-submitted form changes once."""
    rows = list(points.history(team, customer)[: POINTS_ROWS + 1])
    return {
        "points_history": rows[:POINTS_ROWS],
        "points_more": len(rows) > POINTS_ROWS,
        "points_form_key": f"console:{uuid.uuid4().hex}",
    }


def timeline_page(team, customer, after=None):
    """Events newest first, keyset-paged by (occurred_at, id)."""
    events = CustomerEvent.objects.for_team(team).filter(customer=customer).select_related("channel")
    position = decode_cursor(after) if after else None
    if position:
        occurred_at, pk = position
        events = events.filter(Q(occurred_at__lt=occurred_at) | Q(occurred_at=occurred_at, id__lt=pk))
    rows = list(events.order_by("-occurred_at", "-id")[: TIMELINE_PAGE + 1])
    more = len(rows) > TIMELINE_PAGE
    rows = rows[:TIMELINE_PAGE]
    for event in rows:
        event.summary = event_summary(event)
    next_cursor = f"{rows[-1].occurred_at.isoformat()}_{rows[-1].pk}" if more else None
    return rows, next_cursor


def _label(choices, value):
    return choices(value).label if value in choices.values else value


def event_summary(event):
    data = event.data or {}
    kind = event.type
    if kind == EventType.CONTACT_CREATED:
        return _("來源：%(source)s") % {"source": _label(ContactSource, data.get("source", ""))}
    if kind in (EventType.UNSUBSCRIBED, EventType.SUBSCRIBED) and data.get("scope"):
        return _label(UnsubscribeScope, data["scope"])
    if kind == EventType.BINDING:
        return _label(BindingMethod, data.get("method", ""))
    if kind == EventType.CHECKOUT_COMPLETED:
        return f"{data.get('order_id', '')} · {data.get('currency', '')} {data.get('amount', '')}"
    if kind in (EventType.TAG_ADDED, EventType.TAG_REMOVED):
        return data.get("tag", "")
    if kind == EventType.ATTRIBUTE_CHANGED:
        return f"{data.get('key', '')}: {data.get('old', '—')} → {data.get('new', '—')}"
    if kind == EventType.POINTS_CHANGED:
        return f"{data.get('delta', '')} {data.get('reason', '')}".strip()
    if kind in (EventType.MEMBER_REGISTERED, EventType.MEMBER_LOGIN):
        return data.get("member_id", "")
    if kind == EventType.SYSTEM:
        return data.get("name", "")
    return ""


def tag_rows(team):
    return list(Tag.objects.for_team(team).annotate(customers=Count("customer_tags")).order_by("archived_at", "name"))


def attribute_rows(team):
    return list(
        CustomAttribute.objects.for_team(team)
        .annotate(changes=Count("type_changes", distinct=True))
        .order_by("archived_at", "key")
    )
