from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_schedules(sender, **kwargs):
    from .tasks import ensure_schedules

    ensure_schedules()


class MessagingConfig(AppConfig):
    name = "messaging"

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from cdp.models import Channel  # in ready(): apps.py is imported before any app's models are loaded

        from . import health  # noqa: F401 - registers its /healthz figure
        from .services.channel_cache import forget_channel

        post_save.connect(forget_channel, sender=Channel, dispatch_uid="messaging.forget_channel.save")
        post_delete.connect(forget_channel, sender=Channel, dispatch_uid="messaging.forget_channel.delete")
        # The per-minute backstop Schedules (messaging.tasks.SCHEDULES) are created idempotently after migrate.
        post_migrate.connect(_ensure_schedules, sender=self, dispatch_uid="messaging-schedules")
