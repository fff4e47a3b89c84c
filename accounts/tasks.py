"""django-q2 tasks of accounts: draining the durable hand-offs (accounts/handoff.py)."""

from . import handoff
from .queues import drain_seconds


def drain_handoffs(consumer, linger=None):
    """Hand a consumer its pending rows (a hint, or the per-minute backstop: any number may run at once)."""
    from django.conf import settings
    from django_q.conf import Conf

    if linger is None:
        linger = 0 if Conf.SYNC else 2 * settings.HANDOFF_HINT_SECONDS
    return handoff.drain(consumer, linger=linger, max_seconds=drain_seconds())
