from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_schedules(sender, **kwargs):
    from .tasks import ensure_schedules

    ensure_schedules()


class OmnilinkConfig(AppConfig):
    name = "omnilink"
    verbose_name = "OmniLink"

    def ready(self):
        # The per-minute timeout sweep and rollup compaction (omnilink.tasks.SCHEDULES), made after migrate.
        post_migrate.connect(_ensure_schedules, sender=self, dispatch_uid="omnilink-schedules")
