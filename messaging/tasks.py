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


def process_webhook_events(team_id=None, batch_size=500):
    """Process stored webhook events in batches until none is pending."""
    from .services import processing

    return processing.drain(team_id=team_id, batch_size=batch_size)


def sync_whatsapp_templates(channel_id):
    from cdp.models import Channel

    from .services import templates

    channel = Channel.objects.filter(pk=channel_id, kind="whatsapp").first()
    if channel is None:
        return 0
    return templates.sync(channel)
