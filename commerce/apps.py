from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_schedules(sender, **kwargs):
    from .tasks import ensure_schedules

    ensure_schedules()


class CommerceConfig(AppConfig):
    name = "commerce"
    verbose_name = "對話下單"

    def ready(self):
        post_migrate.connect(_ensure_schedules, sender=self, dispatch_uid="commerce-schedules")
