"""Test a journey: the path one customer would take now, and what the send-time policy would do to each message.

Nothing is written and nothing is sent. Delays move the simulated clock forward, so do-not-disturb is judged at
the time the message would really go out.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext as _

from audiences.conditions import customer_matches
from cdp.models import Contact
from messaging.policy import check_send

from . import graph as g
from .engine import content_for
from .validation import policy_segments


@dataclass
class SimStep:
    node_id: str
    node_type: str
    at: object
    outcome: str
    detail: str = ""


def simulate(journey, customer, *, now=None, graph=None):
    now = now or timezone.now()
    if graph is None:
        graph = journey.current_version.graph if journey.current_version else journey.draft_graph
    compiled = g.compile_graph(graph)
    clock = now
    path = []
    node_id = compiled.start
    guard = 0
    while node_id and guard < 200:
        guard += 1
        node = compiled.nodes[node_id]
        config = node["config"]
        kind = node["type"]
        following = node["next"]
        if kind == "delay":
            wait = timedelta(
                days=int(config.get("days") or 0),
                hours=int(config.get("hours") or 0),
                minutes=int(config.get("minutes") or 0),
            )
            clock = clock + wait
            path.append(SimStep(node_id, kind, clock, "wait", _("等待至 %(t)s") % {"t": _fmt(journey, clock)}))
        elif kind == "split":
            yes = customer_matches(team=journey.team, customer=customer, tree=config.get("conditions") or {}, now=clock)
            path.append(SimStep(node_id, kind, clock, "yes" if yes else "no", _("符合") if yes else _("不符合")))
            following = node["yes"] if yes else node["no"]
        elif kind == "message":
            contact = (
                Contact.objects.for_team(journey.team)
                .filter(customer=customer, channel_id=int(config.get("channel_id") or 0))
                .order_by("status", "-id")
                .first()
            )
            if contact is None:
                path.append(SimStep(node_id, kind, clock, "skip", _("此渠道沒有聯絡人")))
            else:
                decision = check_send(
                    contact=contact,
                    content=content_for(config),
                    now=clock,
                    dnd_segments=policy_segments(journey.dnd_segments),
                )
                detail = decision.reason or ""
                if decision.action == "defer" and decision.until:
                    detail = _("勿擾時段，延後至 %(t)s") % {"t": _fmt(journey, decision.until)}
                    clock = decision.until
                path.append(SimStep(node_id, kind, clock, decision.action, detail))
        else:
            path.append(SimStep(node_id, kind, clock, "do", ""))
        node_id = following
    return path


def _fmt(journey, value):
    return journey.team.localtime(value).strftime("%Y-%m-%d %H:%M")
