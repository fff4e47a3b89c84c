"""django-q2 tasks of the accounts app: thin and idempotent.

Per-minute Schedules (created after every migrate, apps.py):
- "handoff: <consumer>" → drain_handoffs: hand-off rows whose hint was lost or whose worker died (handoff.py);
- "accounts: outbound webhooks" → send_outbound_webhooks: deliveries whose hint was lost, whose retry is due, or
  whose worker died (an expired lease).
"""

from . import handoff, outbound_webhooks, queues
from .queues import drain_seconds

SCHEDULES = [
    ("accounts: outbound webhooks", "accounts.tasks.send_outbound_webhooks"),
]


def ensure_schedules(**kwargs):
    """Create or update the per-minute Schedules (idempotent: keyed by name)."""
    for name, func in SCHEDULES:
        queues.ensure_schedule(name, func)
    handoff.ensure_schedules()


def drain_handoffs(consumer, linger=None):
    """Hand a consumer its pending rows (a hint, or the per-minute backstop: any number may run at once)."""
    from django.conf import settings
    from django_q.conf import Conf

    if linger is None:
        linger = 0 if Conf.SYNC else 2 * settings.HANDOFF_HINT_SECONDS
    return handoff.drain(consumer, linger=linger, max_seconds=drain_seconds())


def send_outbound_webhooks():
    """Send due deliveries (a hint or the backstop: any number may run at once; rows are claimed)."""
    return outbound_webhooks.dispatch()
