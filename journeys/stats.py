"""Journey statistics (seed 002 旅程總覽數據 / 旅程各節點數據, seed 003's denominators).

Definitions (per version, and summed over versions for the journey):
- triggers (旅程觸發次數): enrollments created, repeats counted (one per trigger).
- completions (旅程完成次數): enrollments that reached the end of a path; completion rate = completions / triggers.
- messages sent (訊息發送量): outbox rows the journey wrote; successful sends = sent / delivered / read.
- cost estimate (訊息成本估算): the cost the outbox recorded for each successful send (the team's per-message cost,
  LINE NT$0.2, WhatsApp HKD 0.5 by default; nothing on other platforms, LINE's reply API or the sandbox), per
  currency; ROAS's denominator is the sum of those amounts. simulated: successful sends through a sandbox channel.
- revenue / orders attributed (營業額 / 訂單數): a cdp Order is attributed to a journey when the same customer got a
  successful journey message within `team.attribution_window_days` (7 by default) before the order; last touch:
  only the latest such message (across all journeys) gets the order.
- ROAS (廣告投資報酬率) = attributed revenue / cost estimate.
- per node: reached (distinct customers' enrollments that executed the node) and waiting (active enrollments on
  it) are live; per-platform message figures come from messaging.stats.summarize over the node's messages
  (denominator: successful sends) and are refreshed hourly into NodeRollup.
- holdout lift: revenue per entrant of the treated group vs the held-out group, counting each group's orders
  within the attribution window after entering (held-out customers get no messages, so no last touch).
"""

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

from django.db.models import Count, DateTimeField, ExpressionWrapper, F, OuterRef, Q, Subquery, Sum, Value
from django.utils import timezone

from cdp.models import Order
from messaging.models import OutboundMessage
from messaging.stats import summarize

from .models import Enrollment, EnrollmentState, EnrollmentStep, Journey, NodeRollup, StepOutcome, VersionRollup

SUCCESS = ("sent", "delivered", "read")


def node_counts(version):
    """Live: {node_id: {"reached": n, "waiting": m}}."""
    out = defaultdict(lambda: {"reached": 0, "waiting": 0})
    reached = (
        EnrollmentStep.objects.filter(team_id=version.team_id, version=version)
        .exclude(outcome=StepOutcome.DEFERRED)
        .values("node")
        .annotate(n=Count("enrollment_id", distinct=True))
    )
    for row in reached:
        out[row["node"]]["reached"] = row["n"]
    waiting = (
        Enrollment.objects.filter(team_id=version.team_id, version=version, state=EnrollmentState.ACTIVE)
        .values("node")
        .annotate(n=Count("id"))
    )
    for row in waiting:
        out[row["node"]]["waiting"] = row["n"]
    return dict(out)


def live_overview(journey, version=None):
    base = Enrollment.objects.for_team(journey.team).filter(journey=journey)
    if version is not None:
        base = base.filter(version=version)
    counts = base.aggregate(
        triggers=Count("id"),
        completions=Count("id", filter=Q(state=EnrollmentState.COMPLETED)),
        active=Count("id", filter=Q(state=EnrollmentState.ACTIVE)),
        held_out=Count("id", filter=Q(holdout=True)),
    )
    counts["completion_rate"] = counts["completions"] / counts["triggers"] if counts["triggers"] else None
    return counts


def overview(journey, version=None):
    """Live counts + the hourly rollup (revenue, orders, messages, cost, ROAS, holdout lift)."""
    data = live_overview(journey, version)
    rollups = VersionRollup.objects.for_team(journey.team).filter(journey=journey)
    if version is not None:
        rollups = rollups.filter(version=version)
    merged = {"messages": 0, "successful": 0, "simulated": 0, "revenue": Decimal(0), "orders": 0, "cost": {}}
    merged["refreshed_at"] = None
    lift = None
    for rollup in rollups:
        stats = rollup.stats
        merged["messages"] += stats.get("messages", 0)
        merged["successful"] += stats.get("successful", 0)
        merged["simulated"] += stats.get("simulated", 0)
        merged["revenue"] += Decimal(stats.get("revenue", "0"))
        merged["orders"] += stats.get("orders", 0)
        for currency, amount in stats.get("cost", {}).items():
            merged["cost"][currency] = merged["cost"].get(currency, Decimal(0)) + Decimal(amount)
        if version is not None:
            lift = stats.get("holdout")
        if merged["refreshed_at"] is None or rollup.refreshed_at > merged["refreshed_at"]:
            merged["refreshed_at"] = rollup.refreshed_at
    total_cost = sum(merged["cost"].values(), Decimal(0))
    merged["roas"] = (merged["revenue"] / total_cost) if total_cost else None
    merged["holdout"] = lift
    data.update(merged)
    return data


def node_stats(version):
    """{node_id: stats} from the hourly rollup."""
    return {r.node: {**r.stats, "channel_kind": r.channel_kind} for r in version.node_rollups.all()}


def attributed_orders(team, now=None):
    """{outbound message id: [(order pk, amount)]}: each order to the latest successful journey send before it."""
    now = now or timezone.now()
    window = timedelta(days=team.attribution_window_days)
    last_touch = (
        OutboundMessage.objects.filter(
            team=team,
            origin="journey",
            status__in=SUCCESS,
            contact__customer_id=OuterRef("customer_id"),
            sent_at__lte=OuterRef("occurred_at"),
            sent_at__gte=ExpressionWrapper(OuterRef("occurred_at") - Value(window), output_field=DateTimeField()),
        )
        .order_by("-sent_at", "-id")
        .values("id")[:1]
    )
    first_send = (
        OutboundMessage.objects.filter(team=team, origin="journey", status__in=SUCCESS)
        .order_by("sent_at")
        .values_list("sent_at", flat=True)
        .first()
    )
    out = defaultdict(list)
    if first_send is None:
        return out
    rows = (
        Order.objects.for_team(team)
        .filter(occurred_at__gte=first_send, occurred_at__lte=now)
        .annotate(touch=Subquery(last_touch))
        .exclude(touch=None)
        .values_list("touch", "pk", "amount")
    )
    for touch, pk, amount in rows:
        out[touch].append((pk, amount))
    return out


def refresh_team(team, now=None):
    now = now or timezone.now()
    journeys = Journey.objects.for_team(team).exclude(current_version=None)
    attribution = attributed_orders(team, now)
    for journey in journeys:
        for version in journey.versions.all():
            steps = EnrollmentStep.objects.filter(team=team, version=version, message_id__isnull=False)
            message_ids = steps.values("message_id")
            messages = OutboundMessage.objects.filter(team=team, pk__in=message_ids)
            by_node = defaultdict(list)
            for node, message_id in steps.values_list("node", "message_id"):
                by_node[node].append(message_id)
            for node, ids in by_node.items():
                node_messages = OutboundMessage.objects.filter(team=team, pk__in=ids)
                kind = node_messages.values_list("channel__kind", flat=True).first() or ""
                stats = _jsonable(summarize(node_messages))
                NodeRollup.objects.update_or_create(
                    team=team,
                    version=version,
                    node=node,
                    defaults={"journey": journey, "channel_kind": kind, "stats": stats, "refreshed_at": now},
                )
            sends = summarize(messages)
            recorded = (
                messages.filter(status__in=SUCCESS)
                .exclude(cost_currency="")
                .values("cost_currency")
                .annotate(amount=Sum("cost"))
                .order_by("cost_currency")
            )
            cost = {row["cost_currency"]: row["amount"] for row in recorded}
            revenue, orders = Decimal(0), 0
            for message_id in messages.values_list("pk", flat=True):
                for _pk, amount in attribution.get(message_id, ()):
                    revenue += amount
                    orders += 1
            stats = {
                "messages": sends["messages"],
                "successful": sends["sent"],
                "simulated": sends["simulated"],
                "cost": {currency: str(amount) for currency, amount in cost.items()},
                "revenue": str(revenue),
                "orders": orders,
                "holdout": _holdout(team, version),
            }
            VersionRollup.objects.update_or_create(
                team=team, version=version, defaults={"journey": journey, "stats": stats, "refreshed_at": now}
            )


def _holdout(team, version):
    groups = {}
    window = timedelta(days=team.attribution_window_days)
    enrollments = Enrollment.objects.filter(team=team, version=version)
    if not enrollments.filter(holdout=True).exists():
        return None
    for held in (False, True):
        group = enrollments.filter(holdout=held)
        entrants = group.count()
        revenue = Order.objects.for_team(team).filter(customer_id__in=group.values("customer_id")).annotate(
            entered=Subquery(
                group.filter(customer=OuterRef("customer"), entered_at__lte=OuterRef("occurred_at"))
                .order_by("-entered_at")
                .values("entered_at")[:1]
            )
        ).filter(
            entered__isnull=False,
            occurred_at__lte=ExpressionWrapper(F("entered") + Value(window), output_field=DateTimeField()),
        ).aggregate(total=Sum("amount"))["total"] or Decimal(0)
        groups["holdout" if held else "treated"] = {
            "entrants": entrants,
            "revenue": str(revenue),
            "per_entrant": str((revenue / entrants).quantize(Decimal("0.01"))) if entrants else "0",
        }
    treated = Decimal(groups["treated"]["per_entrant"])
    held = Decimal(groups["holdout"]["per_entrant"])
    groups["lift"] = str(((treated - held) / held).quantize(Decimal("0.0001"))) if held else None
    return groups


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    return value
