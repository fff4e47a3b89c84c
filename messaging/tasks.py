"""django-q2 tasks: thin and idempotent; arguments are ids; work rows are claimed with skip_locked.

Queue messages are only hints (they may be lost: a worker restarted, a broker flushed). The stored rows are
the work, and two Schedules, created idempotently after every migrate (`ensure_schedules`, apps.py), find it
anyway every minute:
- "messaging: webhook events" → drain_webhook_events: stored webhook events whose hint was lost;
- "messaging: outbox" → dispatch_outbox: sends due later (retry backoff, send_after) and expired claims.
"""

import logging

from django.conf import settings

from accounts import queues
from accounts.queues import drain_seconds
from cdp.models import Channel

logger = logging.getLogger(__name__)

SCHEDULES = [
    ("messaging: webhook events", "messaging.tasks.drain_webhook_events"),
    ("messaging: outbox", "messaging.tasks.dispatch_outbox"),
    ("messaging: comment replies", "messaging.tasks.send_comment_replies"),
    ("messaging: LINE friend sync", "messaging.tasks.resume_friend_syncs"),
]


def ensure_schedules(**kwargs):
    """Create or update the per-minute Schedules (idempotent: keyed by name), and the channel budgets one."""
    for name, func in SCHEDULES:
        queues.ensure_schedule(name, func)
    queues.ensure_schedule(
        "messaging: channel budgets",
        "messaging.tasks.refresh_channel_budgets",
        minutes=settings.MESSAGING_BUDGET_REFRESH_MINUTES,
    )


def refresh_channel_budgets():
    """Read every active LINE channel's quota and consumption; check every prepaid WhatsApp channel's balance."""
    from cdp.models import Channel, ChannelStatus

    from .services import budgets

    checked = 0
    channels = Channel.objects.filter(status=ChannelStatus.ACTIVE, is_sandbox=False, kind__in=["line", "whatsapp"])
    for channel in channels.select_related("team").order_by("id").iterator():
        if channel.kind == "line":
            if not channel.credentials.get("access_token"):
                continue
            try:
                budgets.refresh_line_quota(channel)
            except ConnectionError as exc:
                logger.warning("LINE quota of channel %s not read: %s", channel.pk, exc)
                continue
        else:
            budgets.check_prepaid(channel)
        checked += 1
    return checked


def dispatch_outbox(batch_size=100, linger=None):
    """Send due outbox rows (a hint: any number of these may run; rows are claimed, never sent twice), lingering
    for twice MESSAGING_OUTBOX_HINT_SECONDS for rows whose throttled hint was skipped."""
    from django.conf import settings
    from django_q.conf import Conf

    from .services import outbox

    if linger is None:
        linger = 0 if Conf.SYNC else 2 * settings.MESSAGING_OUTBOX_HINT_SECONDS
    outbox.sweep()
    return queues.drain(
        lambda: outbox.dispatch(batch_size=batch_size, max_batches=1),
        linger=linger,
        max_seconds=drain_seconds(),
        name="outbox",
    )


def sweep_outbox():
    from .services import outbox

    return outbox.sweep()


def process_webhook_events(team_id=None, batch_size=500, linger=None):
    """Process stored webhook events in batches until none is pending, then keep polling for `linger` seconds
    (default: twice MESSAGING_WEBHOOK_HINT_SECONDS; none when tasks run synchronously) for events whose
    request skipped its hint (see messaging.services.ingest.hint_processing). Returns within
    MESSAGING_WEBHOOK_DRAIN_SECONDS even under steady traffic, well before the worker's timeout would kill it
    mid-batch; the hints enqueued meanwhile carry on."""
    from django.conf import settings
    from django_q.conf import Conf

    from .services import processing

    if linger is None:
        linger = 0 if Conf.SYNC else 2 * settings.MESSAGING_WEBHOOK_HINT_SECONDS
    return processing.drain(team_id=team_id, batch_size=batch_size, linger=linger, max_seconds=drain_seconds())


def drain_webhook_events():
    """The per-minute backstop: whatever the hints missed (no lingering). Logs when it found work."""
    from .services import processing

    handled = processing.drain(max_seconds=drain_seconds())
    if handled:
        logger.info("webhook backstop processed %d events whose hint was lost or late", handled)
    return handled


def sync_whatsapp_templates(channel_id):
    from .services import templates

    channel = Channel.objects.filter(pk=channel_id, kind="whatsapp").first()
    if channel is None:
        return 0
    return templates.sync(channel)


def send_comment_replies():
    """Private replies owed to comments (messaging.services.comments); also run by the per-minute schedule."""
    from .services import comments

    return comments.send_pending()


def run_friend_sync(job_id):
    from .services import friend_sync

    job = friend_sync.run(job_id)
    return job.status if job else None


def resume_friend_syncs():
    from .services import friend_sync

    return friend_sync.resume()
