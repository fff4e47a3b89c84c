from django.apps import AppConfig
from django.db.models.signals import post_migrate, post_save


def _ensure_schedules(sender, **kwargs):
    from .tasks import ensure_schedules

    ensure_schedules()


class CdpConfig(AppConfig):
    name = "cdp"

    def ready(self):
        from accounts.models import Team  # in ready(): apps.py is imported before any app's models are loaded

        post_save.connect(_team_saved, sender=Team, dispatch_uid="cdp-quota-on-team-save")
        # The per-minute backstop for imports whose task was lost or whose worker died (cdp.tasks.SCHEDULES).
        post_migrate.connect(_ensure_schedules, sender=self, dispatch_uid="cdp-schedules")


def _team_saved(sender, instance, created, **kwargs):
    """A changed contact quota moves the over-quota line (teams are saved rarely: settings, admin)."""
    if not created:
        from . import quota

        quota.schedule_refresh(instance.pk)
