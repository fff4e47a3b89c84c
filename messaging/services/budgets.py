"""Per-channel message budgets: LINE's monthly message quota, WhatsApp's prepaid balance (error 131042, or the
team's account balance when the team pays WhatsApp from it).

When a send or a status says the budget is gone, the channel's ChannelState records why and until when, and
accounts.notify emits "budget_exhausted" once (journeys stop, the console warns).

Before a journey or broadcast batch, `check_before_batch` makes the state fresh: LINE's quota and consumption are
read again when the last reading is older than MESSAGING_LINE_QUOTA_MAX_AGE_SECONDS (and every
MESSAGING_BUDGET_REFRESH_MINUTES by the "messaging: channel budgets" Schedule), so a journey stops when none is
left rather than after a send failed. WhatsApp prepaid (Team.whatsapp_prepaid_price set): each successful send debits
Team.whatsapp_prepaid_price (whatsapp_debit); at a balance of 0 or less the channel is exhausted with
PREPAID_ZERO, and the flag clears itself once the balance is above 0 again (a top-up). LINE's flag clears when a
reading shows quota left; a WhatsApp 131042 flag clears when a send or status on the channel succeeds.
"""

import calendar
import logging
import zoneinfo
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import notify
from billing import services as ledger

from ..models import ChannelState

logger = logging.getLogger(__name__)

PREPAID_ZERO = "預付團隊餘額為 0"  # seed 002's words, stored as data (the journey's reason is its own label)
LINE_LIMIT = "LINE monthly limit reached"
WHATSAPP_PAYMENT = "WhatsApp payment error"

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
        mark_exhausted(channel, reason=LINE_LIMIT, until=next_line_reset(now), now=now)
    elif _reason(channel).startswith(LINE_LIMIT):
        clear(channel)  # quota left again (a plan change): the flag does not wait for the 1st
    return limit, used


def _reason(channel):
    return ChannelState.objects.filter(channel=channel).values_list("budget_reason", flat=True).first() or ""


def check_before_batch(channel, now=None):
    """The channel's budget state made fresh for a batch of sends; True when nothing may be sent."""
    now = now or timezone.now()
    if channel.is_sandbox:
        return is_exhausted(channel, now)
    if channel.kind == "line" and channel.credentials.get("access_token"):  # no token: nothing to ask LINE
        checked = ChannelState.objects.filter(channel=channel).values_list("quota_checked_at", flat=True).first()
        if checked is None or now - checked > timedelta(seconds=settings.MESSAGING_LINE_QUOTA_MAX_AGE_SECONDS):
            try:
                refresh_line_quota(channel, now)
            except ConnectionError as exc:
                logger.warning("LINE quota of channel %s not read: %s", channel.pk, exc)
    elif channel.kind == "whatsapp":
        check_prepaid(channel, now)
    return is_exhausted(channel, now)


def check_prepaid(channel, now=None):
    """WhatsApp paid from the balance: exhausted at a balance ≤ 0, cleared above it (a top-up)."""
    prepaid = channel.team.whatsapp_prepaid
    if prepaid and ledger.balance(channel.team) <= 0:
        mark_exhausted(channel, reason=PREPAID_ZERO, now=now)
    elif _reason(channel) == PREPAID_ZERO:
        clear(channel)


def debit_whatsapp(message):
    """A successful WhatsApp send of a prepaid team: debit its price (once per outbox row), then stop at ≤ 0."""
    team = message.team
    if not team.whatsapp_prepaid or message.channel.is_sandbox or team.whatsapp_prepaid_price <= 0:
        return
    # The send already succeeded: the debit is forced, so a team below its grace amount is still billed for it.
    ledger.debit(
        team,
        team.whatsapp_prepaid_price,
        type="whatsapp_debit",
        idempotency_key=f"whatsapp:{message.pk}",
        reference=f"outbound:{message.pk}",
        feature=message.origin,
        channel="whatsapp",
        force=True,
    )
    check_prepaid(message.channel)


def succeeded(channel):
    """A send or status on the channel succeeded: a WhatsApp payment (131042) flag is stale."""
    if _reason(channel).startswith(WHATSAPP_PAYMENT):
        clear(channel)
