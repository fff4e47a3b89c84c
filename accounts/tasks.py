"""django-q2 tasks of the accounts app: thin and idempotent.

The per-minute Schedule "accounts: outbound webhooks" (created after every migrate, apps.py) sends the outbound
webhook deliveries whose hint was lost, whose retry is due, or whose worker died (an expired lease).
"""

from . import outbound_webhooks

SCHEDULES = [
    ("accounts: outbound webhooks", "accounts.tasks.send_outbound_webhooks"),
]


def ensure_schedules(**kwargs):
    """Create or update the per-minute Schedules (idempotent: keyed by name)."""
    from django_q.models import Schedule

    for name, func in SCHEDULES:
        Schedule.objects.update_or_create(
            name=name, defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1}
        )


def send_outbound_webhooks():
    """Send due deliveries (a hint or the backstop: any number may run at once; rows are claimed)."""
    return outbound_webhooks.dispatch()
