"""Automatic stops from system signals (seed 002's table), given by accounts.notify to tasks.on_signal.

- module_deleted {"module_id"}                    → journeys whose current version sends it: 找不到機器人或機器人模組
- template_deleted / template_unusable {"template_id"} → 找不到 WhatsApp 訊息範本
- attribute_archived / attribute_retyped {"key"}  → journeys changing it or triggered by it: 找不到自訂屬性…
- budget_exhausted {"channel_id"}                 → journeys targeting the channel: LINE 訊息則數 / WhatsApp 餘額為 0
"""

from cdp.models import Channel, ChannelKind

from . import graph as g
from .models import Journey, JourneyChannel, TriggerType
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


def _graphs(journey):
    graphs = []
    if journey.current_version:
        graphs.append(journey.current_version.graph)
    return graphs


def handle_signal(team, kind, payload):
    if kind == "module_deleted":
        module_id = int(payload.get("module_id") or 0)
        hit = [j for j in _live(team) if any(module_id in g.referenced(gr)["modules"] for gr in _graphs(j))]
        return _stop(hit, StatusReason.MODULE_DELETED)
    if kind in ("template_deleted", "template_unusable"):
        template_id = int(payload.get("template_id") or 0)
        hit = [j for j in _live(team) if any(template_id in g.referenced(gr)["templates"] for gr in _graphs(j))]
        return _stop(hit, StatusReason.TEMPLATE_DELETED)
    if kind in ("attribute_archived", "attribute_retyped"):
        key = payload.get("key") or ""
        hit = [
            j
            for j in _live(team)
            if any(key in g.referenced(gr)["attributes"] for gr in _graphs(j))
            or (j.trigger_type == TriggerType.ATTRIBUTE_CHANGED and (j.trigger_config or {}).get("key") == key)
        ]
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
        hit = [
            j
            for j in _live(team).filter(pk__in=journey_ids)
            if any(channel.pk in g.referenced(gr)["channels"] for gr in _graphs(j))
        ]
        return _stop(hit, reason)
    return 0
