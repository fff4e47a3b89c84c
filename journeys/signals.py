"""Automatic stops from system signals (seed 002's table), given by accounts.notify to tasks.on_signal.

- module_deleted {"module_id"}                    → journeys whose current version sends it: 找不到機器人或機器人模組
- template_deleted / template_unusable {"template_id"} → 找不到 WhatsApp 訊息範本
- attribute_archived / attribute_retyped {"key"}  → journeys writing it, testing it in a split or triggered by it:
                                                    找不到自訂屬性或被封存、資料型態被改變
- budget_exhausted {"channel_id"}                 → journeys targeting the channel: LINE 訊息則數 / WhatsApp 餘額為 0
"""

from cdp.models import Channel, ChannelKind

from . import graph as g
from .models import Journey, JourneyChannel
from .services import auto_change, halt_stopping
from .statemachine import LIVE, StatusReason


def _live(team):
    return Journey.objects.for_team(team).filter(status__in=list(LIVE)).select_related("current_version")


def _stop(journeys, reason):
    count = 0
    for journey in journeys:
        auto_change(journey, reason)
        halt_stopping(journey)
        count += 1
    return count


def _refs(journey):
    """What the journey's current version and its trigger depend on (graph.referenced: every node, every split
    condition, the trigger)."""
    graph = journey.current_version.graph if journey.current_version else {}
    return g.referenced(graph, trigger_type=journey.trigger_type, trigger_config=journey.trigger_config)


def handle_signal(team, kind, payload):
    if kind == "module_deleted":
        module_id = int(payload.get("module_id") or 0)
        hit = [j for j in _live(team) if module_id in _refs(j)["modules"]]
        return _stop(hit, StatusReason.MODULE_DELETED)
    if kind in ("template_deleted", "template_unusable"):
        template_id = int(payload.get("template_id") or 0)
        hit = [j for j in _live(team) if template_id in _refs(j)["templates"]]
        return _stop(hit, StatusReason.TEMPLATE_DELETED)
    if kind in ("attribute_archived", "attribute_retyped"):
        key = payload.get("key") or ""
        hit = [j for j in _live(team) if key in _refs(j)["attributes"]]
        return _stop(hit, StatusReason.ATTRIBUTE_UNAVAILABLE)
    if kind == "budget_exhausted":
        channel = Channel.objects.for_team(team).filter(pk=int(payload.get("channel_id") or 0)).first()
        if channel is None:
            return 0
        reason = (
            StatusReason.WHATSAPP_BALANCE_ZERO
            if channel.kind == ChannelKind.WHATSAPP
            else StatusReason.LINE_QUOTA_EXHAUSTED
        )
        journey_ids = JourneyChannel.objects.for_team(team).filter(channel=channel).values("journey_id")
        # Only journeys that send on this channel stop (seed 002: "發 LINE 訊息時…").
        hit = [j for j in _live(team).filter(pk__in=journey_ids) if channel.pk in _refs(j)["channels"]]
        return _stop(hit, reason)
    return 0
