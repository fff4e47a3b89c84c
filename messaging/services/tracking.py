"""Seed 003's per-send tracking marks: opened, clicked, replied, delivered / read. Each is set once per send."""

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from ..models import SUCCESSFUL_STATUSES, OutboundMessage, OutboundStatus
from .tracking_urls import LEGACY_TOKEN_DAYS

REPLY_WINDOW = timedelta(hours=24)


def _tracked_sends(legacy, at):
    """Sends a tracked link may name: a legacy (pre-signing) token only names a send of the last
    LEGACY_TOKEN_DAYS days (see tracking_urls)."""
    sends = OutboundMessage.objects.all()
    return sends.filter(created_at__gte=at - timedelta(days=LEGACY_TOKEN_DAYS)) if legacy else sends


def record_open(message_id, index=0, at=None, *, legacy=False):
    """An open pixel / tracked image of a trackable LINE send was loaded. Returns the image URL (or "pixel")."""
    at = at or timezone.now()
    message = _tracked_sends(legacy, at).filter(pk=message_id).only("id", "links", "trackable", "status").first()
    if message is None:
        return None
    images = (message.links or {}).get("images") or []
    OutboundMessage.objects.filter(
        pk=message_id, trackable=True, opened_at__isnull=True, status__in=SUCCESSFUL_STATUSES
    ).update(opened_at=at)
    return images[index] if 0 <= index < len(images) else None


def record_click(message_id, index, at=None, *, legacy=False):
    """A tracked button / link was followed. Returns the target URL, or None for an unknown token."""
    at = at or timezone.now()
    message = _tracked_sends(legacy, at).filter(pk=message_id).only("id", "links", "status").first()
    if message is None:
        return None
    urls = (message.links or {}).get("urls") or []
    if not 0 <= index < len(urls):
        return None
    OutboundMessage.objects.filter(pk=message_id, clicked_at__isnull=True, status__in=SUCCESSFUL_STATUSES).update(
        clicked_at=at
    )
    return urls[index]


def record_replies(*, team_id, contact_id, at):
    """A customer message at `at` counts one reply for every successful send of the 24 h before it.

    Each send counts at most one reply: replied_at keeps the earliest reply (a late-processed earlier message
    moves it back, which keeps the count the same).
    """
    return (
        OutboundMessage.objects.filter(
            team_id=team_id,
            contact_id=contact_id,
            status__in=SUCCESSFUL_STATUSES,
            sent_at__gte=at - REPLY_WINDOW,
            sent_at__lte=at,
        )
        .filter(Q(replied_at__isnull=True) | Q(replied_at__gt=at))
        .update(replied_at=at)
    )


def contacts_with_recent_sends(team_id, contact_ids, since):
    """Which of these contacts have a successful send since `since` (one query, to skip needless updates)."""
    return set(
        OutboundMessage.objects.filter(
            team_id=team_id, contact_id__in=contact_ids, status__in=SUCCESSFUL_STATUSES, sent_at__gte=since
        ).values_list("contact_id", flat=True)
    )


RANK = {OutboundStatus.SENT: 1, OutboundStatus.DELIVERED: 2, OutboundStatus.READ: 3}


def mark_delivered_until(*, channel_id, contact_id, watermark):
    """Messenger delivery watermark: every send to this contact up to the watermark was delivered."""
    return OutboundMessage.objects.filter(
        channel_id=channel_id, contact_id=contact_id, status=OutboundStatus.SENT, sent_at__lte=watermark
    ).update(status=OutboundStatus.DELIVERED, delivered_at=watermark)


def mark_read_until(*, channel_id, contact_id, watermark):
    """Messenger / Instagram read watermark: every send up to it was read."""
    return OutboundMessage.objects.filter(
        channel_id=channel_id,
        contact_id=contact_id,
        status__in=(OutboundStatus.SENT, OutboundStatus.DELIVERED),
        sent_at__lte=watermark,
    ).update(status=OutboundStatus.READ, read_at=watermark)
