"""seed_demo hook: journeys of every trigger type in several statuses, with enrollments, steps, journey messages
and orders to attribute, then the statistics rollups — so the list and statistics pages are not empty."""

import random
import time
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from audiences.conditions import compile_q
from cdp.models import Channel, Contact, Customer, Order, Tag
from messaging.models import ChatbotModule, OutboundMessage
from messaging.services.outbox import send_cost

from . import graph as g
from .models import Enrollment, EnrollmentStep, Journey, JourneyChannel, JourneyVersion, StatusChange
from .stats import refresh_team


def _node(node_type, **config):
    return {"id": g.new_node_id(), "type": node_type, "config": config}


def _module(team):
    module = ChatbotModule.objects.filter(team=team, deleted_at__isnull=True).first()
    if module is None:
        module = ChatbotModule.objects.create(
            team=team,
            name="旅程：感謝購買",
            type="text_buttons",
            content={
                "text": "感謝您的購買！",
                "buttons": [{"label": "看看新品", "url": "https://shop.example.com/new"}],
            },
        )
    return module


def seed(team, rng, *, now=None, stdout=None):
    started = time.perf_counter()
    now = now or timezone.now()
    line = Channel.objects.filter(team=team, kind="line").first()
    if line is None:
        return
    module = _module(team)
    Tag.objects.get_or_create(team=team, name="VIP")
    vip = {"op": "and", "children": [{"type": "tag", "op": "has", "match": "any", "tags": ["VIP"]}]}
    message = _node("message", channel_id=line.pk, kind="module", module_id=module.pk)
    specs = [
        (
            "購買後關懷",
            "checkout_completed",
            {"amount_gte": "1000"},
            [
                _node("delay", days=1, hours=0, minutes=0),
                {
                    **_node("split", conditions=vip),
                    "yes": [message, _node("points", op="add", amount=50)],
                    "no": [_node("tags", add=["購買後關懷"], remove=[])],
                },
            ],
            "active",
            "",
        ),
        (
            "新好友歡迎",
            "new_contact",
            {},
            [_node("message", channel_id=line.pk, kind="module", module_id=module.pk), _node("delay", days=3)],
            "active",
            "",
        ),
        (
            "VIP 專屬禮遇",
            "tag_added",
            {"tags": ["VIP"]},
            [_node("tags", add=["VIP 禮遇"], remove=[])],
            "trigger_closed",
            "trigger_limit_reached",
        ),
        (
            "會員等級升級",
            "attribute_changed",
            {"key": "level"},
            [_node("delay", hours=2)],
            "stopped",
            "attribute_unavailable",
        ),
        ("官網再行銷提醒", "system", {"name": "website_remarketing"}, [_node("delay", minutes=30)], "scheduled", ""),
        ("週年慶（草稿）", "checkout_completed", {"item_name_contains": "禮盒"}, [_node("delay", days=1)], "draft", ""),
        (
            "LINE 額度用盡",
            "tag_added",
            {"tags": ["新會員"]},
            [_node("delay", days=1)],
            "stopped",
            "line_quota_exhausted",
        ),
    ]
    contacts = list(
        Contact.objects.filter(team=team, channel=line, status="subscribed").values_list("id", "customer_id")[:400]
    )
    journeys = []
    for name, trigger, config, nodes, status, reason in specs:
        journey = Journey.objects.create(
            team=team,
            name=name,
            trigger_type=trigger,
            trigger_config=config,
            draft_graph={"nodes": nodes},
            holdout_percent=10 if name == "購買後關懷" else 0,
            dnd_segments=[["23:00", "23:59"], ["00:00", "08:00"]],
            activation="scheduled" if status == "scheduled" else "permanent",
            starts_at=now + timedelta(days=2) if status == "scheduled" else None,
            ends_at=now + timedelta(days=30) if status == "scheduled" else None,
        )
        JourneyChannel.objects.create(team=team, journey=journey, channel=line, message_cap=5000)
        if status != "draft":
            # Demo rows are written directly (as published 20 days ago), not through publish()'s validation.
            version = JourneyVersion.objects.create(
                team=team, journey=journey, number=1, graph=journey.draft_graph, published_at=now - timedelta(days=20)
            )
            StatusChange.objects.create(
                team=team,
                journey=journey,
                from_status="draft",
                to_status="active" if status != "scheduled" else status,
                reason="published",
                at=now - timedelta(days=20),
            )
            if status not in ("active", "scheduled"):
                StatusChange.objects.create(
                    team=team,
                    journey=journey,
                    from_status="active",
                    to_status=status,
                    reason=reason,
                    at=now - timedelta(days=2),
                )
            Journey.objects.filter(pk=journey.pk).update(
                current_version=version,
                draft_graph={},
                status=status,
                status_reason=reason or "published",
                status_changed_at=now - timedelta(days=2),
            )
            journey.refresh_from_db()
        journeys.append(journey)
    _enrollments(team, rng, journeys[0], contacts, now, line)
    _enrollments(team, rng, journeys[1], contacts[200:], now, line)
    # The journey closed by the plan limit took exactly its limit (own generator: the shared one stays as it was).
    limited = next(j for j in journeys if j.status_reason == "trigger_limit_reached")
    _enrollments(team, random.Random(limited.name), limited, contacts[:60], now, line)
    for journey in journeys:
        count = journey.enrollments.count()
        Journey.objects.filter(pk=journey.pk).update(
            trigger_count=count, max_triggers=count if journey is limited else None
        )
    refresh_team(team, now=now)
    if stdout is not None:
        stdout.write(f"journeys: {len(journeys)} journeys seeded in {time.perf_counter() - started:.1f}s")


def _matched(team, compiled, customer_ids, now):
    """{split node id: customer ids meeting its conditions}: the branch each demo customer takes, as the engine's
    split would decide it (audiences' condition language on the customer)."""
    out = {}
    for nid, node in compiled.nodes.items():
        if node["type"] == "split":
            q = compile_q(team, node["config"].get("conditions") or {}, base="customer", now=now)
            out[nid] = set(
                Customer.objects.for_team(team).filter(pk__in=customer_ids).filter(q).values_list("pk", flat=True)
            )
    return out


def _path(compiled, matched, customer_id, holdout):
    """The (node id, node type, outcome) steps one enrollment writes from the start to the end of its branch, as the
    engine writes them: a split goes down exactly one branch, a held-out customer's message is not sent."""
    out = []
    nid = compiled.start
    while nid:
        node = compiled.nodes[nid]
        if node["type"] == "split":
            yes = customer_id in matched[nid]
            out.append((nid, "split", "yes" if yes else "no"))
            nid = node["yes"] if yes else node["no"]
            continue
        outcome = ("held_out" if holdout else "sent") if node["type"] == "message" else "done"
        out.append((nid, node["type"], outcome))
        nid = node["next"]
    return out


def _delay_of(node):
    config = node["config"]
    return timedelta(
        days=int(config.get("days") or 0), hours=int(config.get("hours") or 0), minutes=int(config.get("minutes") or 0)
    )


def _enrollments(team, rng, journey, contacts, now, line):
    """Enrollments with the steps the engine would have written: a completed one walked its whole path (the split
    sending it down one branch); an active one waits on the first delay of its path, with steps up to it. So every
    node's children are reached by no more customers than the node (journeys/tests/test_demo.py checks it)."""
    cost, currency = send_cost(line)  # the demo's channel is a sandbox: nothing
    version = journey.current_version
    compiled = g.compile_graph(version.graph)
    matched = _matched(team, compiled, [customer_id for _c, customer_id in contacts[:200]], now)
    rows, paths = [], []
    for contact_id, customer_id in contacts[:200]:
        entered = now - timedelta(days=rng.randint(0, 14), hours=rng.randint(0, 23))
        done = rng.random() < 0.7
        holdout = rng.random() * 100 < journey.holdout_percent
        path = _path(compiled, matched, customer_id, holdout)
        waiting_on = next((index for index, step in enumerate(path) if step[1] == "delay"), None)
        if not done and waiting_on is not None:
            path = path[: waiting_on + 1]
        else:
            done = True  # nothing to wait on: the engine runs the whole path at once
        if done:  # it entered early enough to have finished its waits by now
            entered -= sum((_delay_of(compiled.nodes[nid]) for nid, kind, _o in path if kind == "delay"), timedelta())
        rows.append(
            Enrollment(
                team=team,
                journey=journey,
                version=version,
                customer_id=customer_id,
                contact_id=contact_id,
                node="" if done else path[-1][0],
                state="completed" if done else "active",
                waiting=not done,
                next_run_at=None if done else now + timedelta(hours=rng.randint(1, 20)),
                entered_at=entered,
                finished_at=None,
                holdout=holdout,
            )
        )
        paths.append(path)
    messages, steps = [], []
    for enrollment, path in zip(rows, paths, strict=True):
        at = enrollment.entered_at
        for nid, node_type, outcome in path:
            step = EnrollmentStep(
                team=team, enrollment=enrollment, version=version, node=nid, node_type=node_type, outcome=outcome, at=at
            )
            steps.append(step)
            if node_type == "delay":
                at = at + _delay_of(compiled.nodes[nid])
            if outcome != "sent":
                continue
            sent_at = at + timedelta(minutes=5)
            step.at = sent_at
            status = rng.choice(["sent", "delivered", "read", "read", "failed"])
            ok = status != "failed"
            messages.append(
                OutboundMessage(
                    team=team,
                    channel=line,
                    contact_id=enrollment.contact_id,
                    origin="journey",
                    origin_id=str(journey.pk),
                    idempotency_key=f"journey:{{pk}}:{nid}:{enrollment.contact_id}",
                    content={"type": "module", "module_id": compiled.nodes[nid]["config"]["module_id"]},
                    status=status,
                    sent_at=sent_at if ok else None,
                    trackable=True,
                    opened_at=sent_at + timedelta(minutes=30) if ok and rng.random() < 0.6 else None,
                    clicked_at=sent_at + timedelta(minutes=40) if ok and rng.random() < 0.2 else None,
                    replied_at=sent_at + timedelta(hours=2) if ok and rng.random() < 0.1 else None,
                    error_reason="" if ok else "demo failure",
                    cost=cost if ok else Decimal(0),
                    cost_currency=currency if ok else "",
                )
            )
            messages[-1].step = step
        if enrollment.state == "completed":
            enrollment.finished_at = at + timedelta(minutes=5)
    Enrollment.objects.bulk_create(rows)
    for message in messages:  # the outbox key names the enrollment, known only now
        message.idempotency_key = message.idempotency_key.replace("{pk}", str(message.step.enrollment.pk))
    OutboundMessage.objects.bulk_create(messages)
    for message in messages:
        message.step.message_id = message.pk
    EnrollmentStep.objects.bulk_create(steps)
    orders = []
    for index, message in enumerate(messages):
        if message.status != "failed" and rng.random() < 0.25:
            customer_id = next(r.customer_id for r in rows if r.contact_id == message.contact_id)
            orders.append(
                Order(
                    team=team,
                    customer_id=customer_id,
                    order_id=f"J{journey.pk}-{index}",
                    amount=Decimal(rng.randint(300, 4000)),
                    currency="TWD",
                    items=[{"name": "禮盒", "quantity": 1}],
                    occurred_at=message.sent_at + timedelta(days=rng.randint(0, 5), hours=1),
                )
            )
    Order.objects.bulk_create(orders, ignore_conflicts=True)
