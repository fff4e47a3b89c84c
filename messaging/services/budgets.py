"""Per-channel message budgets: LINE's monthly message quota, WhatsApp's prepaid balance (error 131042).

When a send or a status says the budget is gone, the channel's ChannelState records why and until when, and
accounts.notify emits "budget_exhausted" once (journeys stop, the console warns).
"""

import calendar
import zoneinfo
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from accounts import notify

from ..models import ChannelState

LINE_ZONE = zoneinfo.ZoneInfo("Asia/Tokyo")  # LINE's monthly quota resets at midnight JST on the 1st


def state_for(channel):
    state, _created = ChannelState.objects.get_or_create(channel=channel, defaults={"team_id": channel.team_id})
    return state


def is_exhausted(channel, now=None):
    now = now or timezone.now()
    row = ChannelState.objects.filter(channel=channel).values("budget_exhausted_at", "budget_exhausted_until").first()
    if not row or row["budget_exhausted_at"] is None:
        return False
    return row["budget_exhausted_until"] is None or row["budget_exhausted_until"] > now


def next_line_reset(now):
    local = now.astimezone(LINE_ZONE)
    days = calendar.monthrange(local.year, local.month)[1]
    first_next = datetime(local.year, local.month, 1, tzinfo=LINE_ZONE) + timedelta(days=days)
    return first_next.astimezone(zoneinfo.ZoneInfo("UTC"))


@transaction.atomic
def mark_exhausted(channel, *, reason, until=None, now=None):
    """Record the exhaustion; emit "budget_exhausted" when the channel was not already exhausted."""
    now = now or timezone.now()
    was = is_exhausted(channel, now)
    state = state_for(channel)
    ChannelState.objects.filter(pk=state.pk).update(
        budget_exhausted_at=now, budget_exhausted_until=until, budget_reason=reason[:200]
    )
    if not was:
        notify.emit(channel.team_id, "budget_exhausted", channel_id=channel.pk, reason=reason)
    return not was


def clear(channel):
    ChannelState.objects.filter(channel=channel).update(
        budget_exhausted_at=None, budget_exhausted_until=None, budget_reason=""
    )


def refresh_line_quota(channel, now=None):
    """Read LINE's quota and consumption endpoints; mark the budget exhausted when used ≥ limit."""
    from ..adapters import get_adapter

    now = now or timezone.now()
    adapter = get_adapter(channel)
    if not hasattr(adapter, "quota"):
        return None
    limit, used = adapter.quota()
    state = state_for(channel)
    ChannelState.objects.filter(pk=state.pk).update(quota_limit=limit, quota_used=used, quota_checked_at=now)
    if limit is not None and used >= limit:
        mark_exhausted(channel, reason="LINE monthly limit reached", until=next_line_reset(now), now=now)
    return limit, used
