from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_schedules(sender, **kwargs):
    from .tasks import ensure_schedules

    ensure_schedules()


class JourneysConfig(AppConfig):
    name = "journeys"
    verbose_name = "顧客旅程"

    def ready(self):
        # The django-q2 Schedules (engine, tick, hourly rollups) are created idempotently after every migrate.
        post_migrate.connect(_ensure_schedules, sender=self, dispatch_uid="journeys-schedules")
