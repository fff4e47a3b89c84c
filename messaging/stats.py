"""Message statistics with seed 003's counting rules, for any queryset of OutboundMessage.

- successful sends (sent, delivered or read) are the denominator; each send to a contact counts separately;
- opens: LINE only, the trackable module types, once per send (opened_at set once) → open_rate over LINE sends;
- reads: WhatsApp only, from statuses, once per send → read_rate over WhatsApp sends;
- replies: a send counts one reply when the contact wrote within 24 h after it (replied_at, set by the
  inbound processing for every successful send of the previous 24 h; at most once per send);
- clicks: button / link clicks through /r/<token>, once per send (clicked_at); text hyperlinks not counted;
- cost: the sum of what the outbox recorded per successful send (outbox.send_cost) when those sends share one
  currency (cost_currency), None when they do not; cost_by_currency: the same per currency, what reports across
  channels show (amounts in different currencies are never added);
- simulated: the successful sends through a sandbox channel, which cost nothing and reached nobody.
"""

from decimal import Decimal

from django.db.models import Count, Q, Sum

from .models import SUCCESSFUL_STATUSES, OutboundStatus


def _rate(part, whole):
    return round(part / whole, 4) if whole else 0.0


def summarize(messages):
    ok = Q(status__in=SUCCESSFUL_STATUSES)
    line = Q(channel__kind="line")
    whatsapp = Q(channel__kind="whatsapp")
    agg = messages.aggregate(
        messages=Count("id"),
        recipients=Count("contact_id", distinct=True),
        sent=Count("id", filter=ok),
        failed=Count("id", filter=Q(status=OutboundStatus.FAILED)),
        line_sent=Count("id", filter=ok & line),
        whatsapp_sent=Count("id", filter=ok & whatsapp),
        opens=Count("id", filter=ok & line & Q(trackable=True, opened_at__isnull=False)),
        reads=Count("id", filter=ok & whatsapp & Q(read_at__isnull=False)),
        replies=Count("id", filter=ok & Q(replied_at__isnull=False)),
        clicks=Count("id", filter=ok & Q(clicked_at__isnull=False)),
        simulated=Count("id", filter=ok & Q(channel__is_sandbox=True)),
    )
    costs = {
        row["cost_currency"]: row["amount"]
        for row in messages.filter(ok)
        .exclude(cost_currency="")
        .values("cost_currency")
        .annotate(amount=Sum("cost"))
        .order_by("cost_currency")
    }
    failures = (
        messages.filter(status=OutboundStatus.FAILED)
        .values("error_reason")
        .annotate(n=Count("id"))
        .order_by("-n", "error_reason")
    )
    return {
        "recipients": agg["recipients"],
        "messages": agg["messages"],
        "sent": agg["sent"],
        "failed": agg["failed"],
        "failures_by_reason": {row["error_reason"] or "unknown": row["n"] for row in failures},
        "line_sent": agg["line_sent"],
        "whatsapp_sent": agg["whatsapp_sent"],
        "opens": agg["opens"],
        "open_rate": _rate(agg["opens"], agg["line_sent"]),
        "reads": agg["reads"],
        "read_rate": _rate(agg["reads"], agg["whatsapp_sent"]),
        "replies": agg["replies"],
        "reply_rate": _rate(agg["replies"], agg["sent"]),
        "clicks": agg["clicks"],
        "ctr": _rate(agg["clicks"], agg["sent"]),
        # Never one sum over currencies: a single figure only where the sends share one currency.
        "cost": next(iter(costs.values())) if len(costs) == 1 else (None if costs else Decimal("0")),
        "cost_currency": next(iter(costs)) if len(costs) == 1 else "",
        "cost_by_currency": costs,
        "simulated": agg["simulated"],
    }
