"""Journey statistics (seed 002 旅程總覽數據 / 旅程各節點數據, seed 003's denominators).

Definitions (per version, and summed over versions for the journey):
- triggers (旅程觸發次數): enrollments created, repeats counted (one per trigger).
- completions (旅程完成次數): enrollments that reached the end of a path; completion rate = completions / triggers.
- messages sent (訊息發送量): outbox rows the journey wrote; successful sends = sent / delivered / read.
- cost estimate (訊息成本估算): the cost the outbox recorded for each successful send (outbox.send_cost: the team's
  per-message cost, LINE NT$0.2, WhatsApp HKD 0.5 by default; nothing on other platforms, LINE's reply API or the
  sandbox), one total per currency. simulated: successful sends through a sandbox channel.
- revenue / orders (營業額 / 訂單數, 「藉由旅程導購」): a cdp Order is driven by a journey when its customer clicked a
  tracked button or link of one of the journey's successful sends (clicked_at: the send's first click) within
  `team.attribution_window_days` (7 by default) before the order. Last click wins: only the send with the latest
  such click (across all journeys) gets the order. One total per order currency; never added across currencies.
- view-through (瀏覽後轉換, secondary): an order that no click drove, within the window after a successful journey
  send; the latest send gets it. Never part of revenue / orders / ROAS.
- ROAS (廣告投資報酬率 = 流量產生營業額 / 推播訊息費用) = revenue / cost estimate, as a multiple, computed only when
  every amount shares one currency, or else in the team's currency through the exchange rates the team set;
  otherwise none, with the reason (roas()).
- per node: reached (distinct customers' enrollments that executed the node) and waiting (active enrollments on
  it) are live; per-platform message figures come from messaging.stats.summarize over the node's messages
  (denominator: successful sends) and are refreshed hourly into NodeRollup.
- holdout lift: revenue per entrant of the treated group vs the held-out group, per currency, counting each group's
  orders within the attribution window after entering (held-out customers get no messages, so no click).

journey_statistics() is what the console page and GET /api/v1/journeys/{id}/statistics both show.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.db.models import Count, DateTimeField, ExpressionWrapper, F, OuterRef, Q, Subquery, Sum, Value
from django.utils import timezone
from django.utils.translation import gettext

from cdp.models import Channel, Order
from messaging.models import SUCCESSFUL_STATUSES, OutboundMessage
from messaging.stats import summarize

from . import graph as g
from .models import Enrollment, EnrollmentState, EnrollmentStep, Journey, NodeRollup, StepOutcome, VersionRollup


def node_counts(version, node=None):
    """Live: {node_id: {"reached": n, "waiting": m}} (only `node`'s when given)."""
    out = defaultdict(lambda: {"reached": 0, "waiting": 0})
    one = {"node": node} if node is not None else {}
    reached = (
        EnrollmentStep.objects.filter(team_id=version.team_id, version=version, **one)
        .exclude(outcome=StepOutcome.DEFERRED)
        .values("node")
        .annotate(n=Count("enrollment_id", distinct=True))
    )
    for row in reached:
        out[row["node"]]["reached"] = row["n"]
    waiting = (
        Enrollment.objects.filter(team_id=version.team_id, version=version, state=EnrollmentState.ACTIVE, **one)
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
    """Live counts + the hourly rollup: revenue, orders, view-through, cost (each per currency), ROAS, holdout."""
    data = live_overview(journey, version)
    rollups = VersionRollup.objects.for_team(journey.team).filter(journey=journey)
    if version is not None:
        rollups = rollups.filter(version=version)
    merged = {"messages": 0, "successful": 0, "simulated": 0, "cost": {}, "revenue": {}, "view_through": {}}
    merged["refreshed_at"] = None
    lift = None
    for rollup in rollups:
        stats = rollup.stats
        merged["messages"] += stats.get("messages", 0)
        merged["successful"] += stats.get("successful", 0)
        merged["simulated"] += stats.get("simulated", 0)
        for currency, amount in stats.get("cost", {}).items():
            merged["cost"][currency] = merged["cost"].get(currency, Decimal(0)) + Decimal(amount)
        for key in ("revenue", "view_through"):
            # A rollup written before issue 24.4 held one revenue figure over all currencies: left out until the
            # next hourly refresh rewrites it per currency.
            figures = stats.get(key)
            for currency, row in figures.items() if isinstance(figures, dict) else ():
                total = merged[key].setdefault(currency, {"amount": Decimal(0), "orders": 0})
                total["amount"] += Decimal(row["amount"])
                total["orders"] += row["orders"]
        if version is not None:
            lift = stats.get("holdout")
        if merged["refreshed_at"] is None or rollup.refreshed_at > merged["refreshed_at"]:
            merged["refreshed_at"] = rollup.refreshed_at
    for key in ("cost", "revenue", "view_through"):
        merged[key] = dict(sorted(merged[key].items()))
    merged["orders"] = sum(row["orders"] for row in merged["revenue"].values())
    merged["roas"] = roas(journey.team, {c: row["amount"] for c, row in merged["revenue"].items()}, merged["cost"])
    merged["holdout"] = lift
    data.update(merged)
    return data


@dataclass(frozen=True)
class Roas:
    """ROAS as a multiple (revenue / cost), in `currency`; or no multiple, with why (reason_code, reason)."""

    multiple: float | None
    currency: str | None = None
    reason_code: str | None = None
    reason: str | None = None
    converted: bool = False  # through the team's exchange rates


def roas(team, revenue, cost):
    """Seed 002 「流量產生營業額 / 推播訊息費用」 over {currency: amount} totals, never adding two currencies.

    One currency throughout: that currency. Several: converted into the team's currency with the team's
    exchange rates (team.exchange_rates, 1 unit = rate of team.currency); a currency without a rate: none."""
    revenue = {c: Decimal(a) for c, a in revenue.items() if a}
    cost = {c: Decimal(a) for c, a in cost.items() if a}
    if not cost:
        return Roas(None, reason_code="no_cost", reason=gettext("沒有訊息費用（未發送計費訊息），無法計算。"))
    currencies = sorted(set(revenue) | set(cost))
    if len(currencies) == 1:
        (currency,) = currencies
        return Roas(_multiple(revenue.get(currency, Decimal(0)), cost[currency]), currency)
    base = team.currency
    rates = {base: Decimal(1)}
    for code, rate in (team.exchange_rates or {}).items():
        try:
            rates.setdefault(code, Decimal(str(rate)))
        except InvalidOperation:
            continue  # the settings form refuses these; a hand-written bad rate is a missing rate
    missing = [c for c in currencies if c not in rates or not rates[c].is_finite() or rates[c] <= 0]
    if missing:
        return Roas(
            None,
            reason_code="no_exchange_rate",
            reason=gettext(
                "營業額與訊息費用的幣別不同（%(currencies)s），請在團隊設定填入 %(missing)s 對 %(base)s 的匯率。"
            )
            % {"currencies": "、".join(currencies), "missing": "、".join(missing), "base": base},
        )
    total_revenue = sum((amount * rates[c] for c, amount in revenue.items()), Decimal(0))
    total_cost = sum((amount * rates[c] for c, amount in cost.items()), Decimal(0))
    return Roas(_multiple(total_revenue, total_cost), base, converted=True)


def _multiple(revenue, cost):
    return float((revenue / cost).quantize(Decimal("0.0001")))


def node_stats(version, node=None):
    """{node_id: stats} from the hourly rollup (only `node`'s when given)."""
    rollups = version.node_rollups.all() if node is None else version.node_rollups.filter(node=node)
    return {r.node: {**r.stats, "channel_kind": r.channel_kind, "refreshed_at": r.refreshed_at} for r in rollups}


def one_node_statistics(journey, node_id):
    """The builder drawer's figures for one node of the current version (seed 002 「點擊「訊息節點」即可看見該節點
    數據」): the statistics page's row for that node, from the same queries. None when the node is not published."""
    version = journey.current_version
    node = g.find_node(version.graph, node_id) if version else None
    if node is None:
        return None
    live = node_counts(version, node=node_id).get(node_id, {})
    entry = {
        "id": node_id,
        "type": node.get("type"),
        "reached": live.get("reached", 0),
        "waiting": live.get("waiting", 0),
    }
    entry["message"] = None
    if node.get("type") == "message":
        kinds = _channel_kinds(journey.team, g.compile_graph({"nodes": [node]}))  # this node's channel only
        entry["message"] = _message_figures(node_stats(version, node=node_id).get(node_id), kinds.get(node_id, ""))
    return {"version": version, "node": entry}


def journey_statistics(journey, version=None):
    """Everything the statistics page shows, and the API returns: one place for both.

    `version` picks one published version (overview and nodes of that version); None: the overview sums every
    version and the nodes are the current version's."""
    shown = version or journey.current_version
    counts = node_counts(shown) if shown else {}
    rollups = node_stats(shown) if shown else {}
    compiled = g.compile_graph(shown.graph if shown else {})
    channels = _channel_kinds(journey.team, compiled)
    nodes = []
    for node_id in compiled.order:
        node = compiled.nodes[node_id]
        live = counts.get(node_id, {})
        entry = {
            "id": node_id,
            "type": node["type"],
            "depth": node["depth"],
            "branch": node["branch"],
            "reached": live.get("reached", 0),
            "waiting": live.get("waiting", 0),
            "message": None,
        }
        if node["type"] == "message":
            entry["message"] = _message_figures(rollups.get(node_id), channels.get(node_id, ""))
        nodes.append(entry)
    return {
        "journey": journey,
        "version": shown,
        "selected": version,
        "overview": overview(journey, version),
        "nodes": nodes,
    }


def _channel_kinds(team, compiled):
    wanted = {
        node_id: int(node["config"].get("channel_id") or 0)
        for node_id, node in compiled.nodes.items()
        if node["type"] == "message"
    }
    kinds = dict(Channel.objects.for_team(team).filter(pk__in=set(wanted.values())).values_list("pk", "kind"))
    return {node_id: kinds.get(channel_id, "") for node_id, channel_id in wanted.items()}


def _message_figures(rollup, channel_kind):
    """Seed 003's per-platform node figures; a rate is None when it does not apply or nothing was sent yet."""
    rollup = rollup or {}
    platform = rollup.get("channel_kind") or channel_kind
    sent = rollup.get("sent", 0)

    def rate(count, applies=True):
        return round(count / sent, 4) if applies and sent else None

    opens, reads = rollup.get("opens", 0), rollup.get("reads", 0)
    replies, clicks = rollup.get("replies", 0), rollup.get("clicks", 0)
    return {
        "platform": platform,
        "successful_sends": sent,
        "opens": opens if platform == "line" else None,
        "open_rate": rate(opens, platform == "line"),
        "reads": reads if platform == "whatsapp" else None,
        "read_rate": rate(reads, platform == "whatsapp"),
        "replies": replies,
        "reply_rate": rate(replies),
        "clicks": clicks,
        "ctr": rate(clicks),
        "simulated": rollup.get("simulated", 0),
        "cost": {c: Decimal(a) for c, a in sorted((rollup.get("cost_by_currency") or {}).items())},
        "refreshed_at": rollup.get("refreshed_at"),
    }


def attribute_orders(team, now=None):
    """{version id: {"revenue": {currency: {amount, orders}}, "view_through": {...}}}: two grouped queries.

    Click-through first (the latest click of a successful journey send within the window before the order), then
    view-through for the orders no click drove (the latest successful journey send within the window)."""
    now = now or timezone.now()
    window = timedelta(days=team.attribution_window_days)
    sends = OutboundMessage.objects.filter(team=team, origin="journey", status__in=SUCCESSFUL_STATUSES)
    orders = (
        Order.objects.for_team(team)
        .filter(occurred_at__lte=now, customer_id__in=sends.values("contact__customer_id"))
        .annotate(window_start=ExpressionWrapper(F("occurred_at") - Value(window), output_field=DateTimeField()))
    )
    last_click = (
        sends.filter(
            contact__customer_id=OuterRef("customer_id"),
            clicked_at__lte=OuterRef("occurred_at"),
            clicked_at__gte=OuterRef("window_start"),
        )
        .order_by("-clicked_at", "-id")
        .values("id")[:1]
    )
    last_send = (
        sends.filter(
            contact__customer_id=OuterRef("customer_id"),
            sent_at__lte=OuterRef("occurred_at"),
            sent_at__gte=OuterRef("window_start"),
        )
        .order_by("-sent_at", "-id")
        .values("id")[:1]
    )
    out = defaultdict(lambda: {"revenue": {}, "view_through": {}})
    clicked = orders.annotate(touch=Subquery(last_click))
    viewed = clicked.filter(touch=None).annotate(view=Subquery(last_send))
    for key, rows, touch in (("revenue", clicked, "touch"), ("view_through", viewed, "view")):
        version = EnrollmentStep.objects.filter(team=team, message_id=OuterRef(touch)).values("version_id")[:1]
        grouped = (
            rows.exclude(**{touch: None})
            .annotate(touch_version=Subquery(version))
            .values("touch_version", "currency")
            .annotate(amount=Sum("amount"), orders=Count("id"))
            .order_by()
        )
        for row in grouped:
            out[row["touch_version"]][key][row["currency"]] = {
                "amount": str(row["amount"].quantize(Decimal("0.01"))),
                "orders": row["orders"],
            }
    return out


def refresh_team(team, now=None):
    now = now or timezone.now()
    journeys = Journey.objects.for_team(team).exclude(current_version=None)
    attribution = attribute_orders(team, now)
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
            attributed = attribution.get(version.pk, {})
            stats = {
                "messages": sends["messages"],
                "successful": sends["sent"],
                "simulated": sends["simulated"],
                "cost": {currency: str(amount) for currency, amount in sends["cost_by_currency"].items()},
                "revenue": attributed.get("revenue", {}),
                "view_through": attributed.get("view_through", {}),
                "holdout": _holdout(team, version),
            }
            VersionRollup.objects.update_or_create(
                team=team, version=version, defaults={"journey": journey, "stats": stats, "refreshed_at": now}
            )


def _holdout(team, version):
    """Per currency: revenue per entrant of each group within the window after entering, and the lift."""
    groups = {}
    window = timedelta(days=team.attribution_window_days)
    enrollments = Enrollment.objects.filter(team=team, version=version)
    if not enrollments.filter(holdout=True).exists():
        return None
    for held in (False, True):
        group = enrollments.filter(holdout=held)
        entrants = group.count()
        revenue = (
            Order.objects.for_team(team)
            .filter(customer_id__in=group.values("customer_id"))
            .annotate(
                entered=Subquery(
                    group.filter(customer=OuterRef("customer"), entered_at__lte=OuterRef("occurred_at"))
                    .order_by("-entered_at")
                    .values("entered_at")[:1]
                )
            )
            .filter(
                entered__isnull=False,
                occurred_at__lte=ExpressionWrapper(F("entered") + Value(window), output_field=DateTimeField()),
            )
            .values("currency")
            .annotate(total=Sum("amount"))
            .order_by("currency")
        )
        totals = {row["currency"]: row["total"] for row in revenue}
        groups["holdout" if held else "treated"] = {
            "entrants": entrants,
            "revenue": {c: str(t) for c, t in totals.items()},
            "per_entrant": {c: str((t / entrants).quantize(Decimal("0.01"))) for c, t in totals.items()},
        }
    lift = {}
    for currency in sorted(set(groups["treated"]["per_entrant"]) | set(groups["holdout"]["per_entrant"])):
        treated = Decimal(groups["treated"]["per_entrant"].get(currency, "0"))
        held = Decimal(groups["holdout"]["per_entrant"].get(currency, "0"))
        lift[currency] = str(((treated - held) / held).quantize(Decimal("0.0001"))) if held else None
    groups["lift"] = lift
    return groups


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    return value
