"""django-q2 tasks: thin and idempotent; arguments are ids; work rows are claimed with skip_locked."""

import logging

logger = logging.getLogger(__name__)


def dispatch_outbox(batch_size=100):
    """Send due outbox rows (a hint: any number of these may run; rows are claimed, never sent twice)."""
    from .services import outbox

    outbox.sweep()
    return outbox.dispatch(batch_size=batch_size)


def sweep_outbox():
    from .services import outbox

    return outbox.sweep()


def process_webhook_events(team_id=None, batch_size=500, linger=None):
    """Process stored webhook events in batches until none is pending, then keep polling for `linger` seconds
    (default: twice MESSAGING_WEBHOOK_HINT_SECONDS; none when tasks run synchronously) for events whose
    request skipped its hint (see messaging.services.ingest.hint_processing)."""
    from django.conf import settings
    from django_q.conf import Conf

    from .services import processing

    if linger is None:
        linger = 0 if Conf.SYNC else 2 * settings.MESSAGING_WEBHOOK_HINT_SECONDS
    return processing.drain(team_id=team_id, batch_size=batch_size, linger=linger)


def sync_whatsapp_templates(channel_id):
    from cdp.models import Channel

    from .services import templates

    channel = Channel.objects.filter(pk=channel_id, kind="whatsapp").first()
    if channel is None:
        return 0
    return templates.sync(channel)
