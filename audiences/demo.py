"""seed_demo hook: audience packs on the sandbox channels (one archived), a broadcast already sent through the
sandbox (so its report shows sends, opens, clicks, replies and cost), a scheduled one and a draft — so a fresh
install shows the audience and broadcast pages as a marketer will use them, not empty."""

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

from cdp.models import Channel
from messaging.models import ChatbotModule
from messaging.services import outbox

from . import services
from .models import AudiencePack, Broadcast

PACKS = [
    "VIP 顧客",
    "近 30 天互動的金卡以上會員",
    "美妝保養興趣（未購買）",
    "沉睡客喚醒",
    "已綁定會員",
    "IG 高互動粉絲",
    "母親節活動名單（已結束）",
]
LEVELS = ["金卡", "白金卡"]
DELIVER_NOW = 2000  # recipients the seed sends itself
BROADCASTS = ["週年慶開跑通知", "金卡會員專屬優惠", "美妝新品試用（草稿）"]


def _group(*children, op="and"):
    return {"op": op, "children": list(children)}


def _tag(*names, op="has"):
    return {"type": "tag", "op": op, "match": "any", "tags": list(names)}


def _module(team):
    module, _created = ChatbotModule.objects.get_or_create(
        team=team,
        name="推播：週年慶開跑",
        deleted_at__isnull=True,
        defaults={
            "type": "text_buttons",
            "content": {
                "text": "週年慶開跑！全館 85 折，VIP 再享滿千折百。",
                "buttons": [{"label": "立即逛逛", "url": "https://shop.example.com/anniversary"}],
            },
        },
    )
    return module


def seed(team, rng, *, now=None, stdout=None):
    started = time.perf_counter()
    now = now or timezone.now()
    channels = {c.kind: c for c in Channel.objects.filter(team=team, is_sandbox=True).order_by("pk")}
    line = channels.get("line")
    if line is None:
        return
    # Re-seeding (seed_demo --flush) replaces the demo's own packs and broadcasts instead of adding copies.
    Broadcast.objects.filter(team=team, name__in=BROADCASTS).delete()
    AudiencePack.objects.filter(team=team, name__in=PACKS).delete()
    recent = {"type": "last_customer_interaction", "op": "within_last_days", "days": 30}
    specs = [
        (line, "VIP 顧客", _group(_tag("VIP"))),
        (
            line,
            "近 30 天互動的金卡以上會員",
            _group(
                recent,
                _group(
                    *({"type": "attribute", "key": "member_level", "op": "equals", "value": v} for v in LEVELS), op="or"
                ),
            ),
        ),
        (
            line,
            "美妝保養興趣（未購買）",
            _group(_group(_tag("美妝"), _tag("保養"), op="or"), {"type": "last_checkout", "op": "not_set"}),
        ),
        (channels.get("whatsapp"), "沉睡客喚醒", _group(_tag("沉睡客"))),
        (channels.get("facebook"), "已綁定會員", _group({"type": "binding", "bound": True})),
        (channels.get("instagram"), "IG 高互動粉絲", _group(_tag("高互動"), recent)),
    ]
    packs = {}
    for channel, name, conditions in specs:
        if channel is None:
            continue
        pack = services.create_pack(team=team, name=name, channel=channel, conditions=conditions)
        services.refresh_pack_count(pack)
        packs[name] = pack
    ended = services.create_pack(
        team=team, name="母親節活動名單（已結束）", channel=line, conditions=_group(_tag("母親節活動"))
    )
    services.refresh_pack_count(ended)
    services.archive_pack(ended)

    content = {"type": "module", "module_id": _module(team).pk}
    # The sent one goes to the smallest pack. A demo-sized audience is delivered here, so its report is complete
    # when the console opens; a large one (seed_demo --contacts 1000000) is left to the worker, as in production.
    sent = services.create_broadcast(
        team=team, name="金卡會員專屬優惠", channel=line, content=content, pack=packs["近 30 天互動的金卡以上會員"]
    )
    sent = services.send_now(sent, now=now)
    if sent.recipient_count <= DELIVER_NOW:
        services.send_all(sent.pk, now=now)
        _deliver()

    local = now.astimezone(ZoneInfo(team.time_zone))
    noon = datetime.combine(local.date() + timedelta(days=2), datetime.min.time().replace(hour=12), local.tzinfo)
    scheduled = services.create_broadcast(
        team=team, name="週年慶開跑通知", channel=line, content=content, pack=packs["VIP 顧客"]
    )
    services.schedule(scheduled, at=noon, now=now)
    draft = services.create_broadcast(team=team, name="美妝新品試用（草稿）", channel=line, content=content)
    services.change_pack(draft, packs["美妝保養興趣（未購買）"])
    services.apply_custom_conditions(draft)
    if stdout is not None:
        stdout.write(f"audiences: {len(packs) + 1} packs, 3 broadcasts in {time.perf_counter() - started:.1f}s")


def _deliver():
    """Send the broadcast's outbox rows now through the sandbox, so its report is complete when the demo opens."""
    outbox.dispatch()
