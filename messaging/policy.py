"""May this message be sent to this contact now? Used by broadcasts and journeys before enqueueing.

check_send(contact=, content=, now=, dnd_segments=(), kind="marketing") -> Decision(action, until, reason)
- skip: channel disabled; contact blocked; (marketing) unsubscribed from the message's scope (broadcasts and
  journey messages: 推播訊息; the rule is cdp's Contact.not_receiving_reason / receiving_q); over the contact quota;
  the channel's message budget exhausted; Messenger / Instagram outside the 24-hour customer-service window
  (Messenger: unless the contact opted in to recurring notifications); on WhatsApp, outside the 24-hour window
  since the customer's last message ONLY an approved template may be sent: text and chatbot modules are
  skipped with reason "needs a template". Inside the window text, modules (rendered to WhatsApp's interactive
  messages, see messaging.services.content) and templates are all sent.
- defer: inside a do-not-disturb segment ("HH:MM", "HH:MM") in the team's time zone → until the segment's end
  (a window over midnight is given as two segments; adjoining segments are followed to the real end). An end
  of "23:59" (the last minute a time picker offers) or "24:00" means the end of that day, as in journeys:
  22:00–23:59 plus 00:00–08:00 covers the whole night.
- send otherwise.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from cdp.models import UnsubscribeScope

from .services import budgets

WINDOW = timedelta(hours=24)
WECHAT_WINDOW = timedelta(hours=48)  # WeChat's Customer Service Message window


@dataclass(frozen=True)
class Decision:
    action: str  # "send" | "defer" | "skip"
    until: datetime | None = None
    reason: str = ""


SEND = Decision("send")


END_OF_DAY = ("23:59", "23:59:00", "24:00", "24:00:00")


def _time(value):
    hours, minutes = str(value).split(":")[:2]
    return time(int(hours) % 24, int(minutes))


def _end(value):
    """A segment's end as a time; None for the end of the day ("23:59" included: no one-minute hole)."""
    return None if str(value) in END_OF_DAY else _time(value)


def dnd_until(now, segments, zone):
    """The end of the do-not-disturb segment `now` falls in (UTC), or None."""
    if not segments:
        return None
    local = now.astimezone(zone)
    until = None
    probe = local
    for _ in range(len(segments) + 1):
        found = None
        for start, end in segments:
            start_t, end_t = _time(start), _end(end)
            day = probe.date()
            start_dt = datetime.combine(day, start_t, tzinfo=zone)
            end_dt = (
                datetime.combine(day, end_t, tzinfo=zone)
                if end_t
                else datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
            )
            if end_dt <= start_dt:  # a single segment given over midnight: treat as two
                if probe >= start_dt:
                    end_dt += timedelta(days=1)
                else:
                    start_dt -= timedelta(days=1)
            if start_dt <= probe < end_dt:
                found = end_dt
                break
        if found is None:
            break
        until = probe = found
    return until.astimezone(UTC) if until else None


def check_send(
    *, contact, content, now, dnd_segments=(), kind="marketing", scope=UnsubscribeScope.BROADCAST, budget_exhausted=None
):
    """`budget_exhausted`: the channel's budget state when the caller already read it for a whole batch.
    `scope`: the unsubscribe scope of a marketing message; broadcasts and journey messages are "broadcast"."""
    channel = contact.channel
    if not channel.is_active:
        return Decision("skip", reason="channel_disabled")
    if kind == "marketing":
        reason = contact.not_receiving_reason(scope)  # cdp's one rule, as audiences use it (receiving_q)
    else:
        reason = "blocked" if contact.status == "blocked" else "over_quota" if contact.is_over_quota else ""
    if reason:
        return Decision("skip", reason=reason)
    if budgets.is_exhausted(channel, now) if budget_exhausted is None else budget_exhausted:
        return Decision("skip", reason="budget_exhausted")
    content_type = (content or {}).get("type")
    last = contact.last_customer_interaction_at
    inside_window = last is not None and now - last <= WINDOW
    if channel.kind == "whatsapp" and content_type != "whatsapp_template" and not inside_window:
        return Decision("skip", reason="needs a template")
    if channel.kind == "wechat" and content_type != "wechat_template" and not (last and now - last <= WECHAT_WINDOW):
        return Decision("skip", reason="needs a template")  # Customer Service Messages: 48 hours
    if channel.kind in ("facebook", "instagram") and not inside_window:
        if not (channel.kind == "facebook" and contact.fb_recurring_optin):
            return Decision("skip", reason="outside 24-hour window")
    until = dnd_until(now, list(dnd_segments or ()), contact.team.zone)
    if until is not None:
        return Decision("defer", until=until, reason="do_not_disturb")
    return SEND
