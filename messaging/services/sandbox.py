"""What the sandbox provider "observes" after a send: deterministic from the idempotency key.

Every send is delivered; LINE trackable sends are opened (~60 %), WhatsApp sends read (~70 %); sends with
tracked buttons are clicked (~25 %); ~15 % get a reply. The marks go through the same tracking functions as
real platform events, a few seconds after the send, so statistics pages show believable numbers.
"""

import hashlib
from datetime import timedelta

from cdp.services.contacts import record_interaction

from ..models import InboundMessage, OutboundMessage, OutboundStatus
from . import inbox_state, tracking


def _roll(key, salt):
    return int(hashlib.sha256(f"{salt}:{key}".encode()).hexdigest()[:8], 16) % 100


def simulate(message):
    message = OutboundMessage.objects.select_related("channel", "contact").get(pk=message.pk)
    if message.sent_at is None:
        return
    at = message.sent_at
    key = message.idempotency_key
    kind = message.channel.kind
    updates = {"status": OutboundStatus.DELIVERED, "delivered_at": at + timedelta(seconds=1)}
    if kind == "whatsapp" and _roll(key, "read") < 70:
        updates.update(status=OutboundStatus.READ, read_at=at + timedelta(seconds=3))
    OutboundMessage.objects.filter(pk=message.pk, status=OutboundStatus.SENT).update(**updates)
    if kind == "line" and message.trackable and _roll(key, "open") < 60:
        tracking.record_open(message.pk, 0, at=at + timedelta(seconds=3))
    if (message.links or {}).get("urls") and _roll(key, "click") < 25:
        tracking.record_click(message.pk, 0, at=at + timedelta(seconds=5))
    if _roll(key, "reply") < 15:
        reply_at = at + timedelta(seconds=8)
        reply = InboundMessage.objects.create(
            team_id=message.team_id,
            channel_id=message.channel_id,
            contact=message.contact,
            kind="text",
            text="👍",
            occurred_at=reply_at,
            external_id=f"sandbox-reply-{message.pk}",
        )
        inbox_state.record_inbound(inbox_state.latest_by_contact([reply]))
        tracking.record_replies(team_id=message.team_id, contact_id=message.contact_id, at=reply_at)
        record_interaction(message.contact, kind="customer", occurred_at=reply_at)
