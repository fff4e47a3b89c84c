from django.apps import AppConfig
from django.db.models.signals import post_save


class CdpConfig(AppConfig):
    name = "cdp"

    def ready(self):
        from accounts.models import Team

        post_save.connect(_team_saved, sender=Team, dispatch_uid="cdp-quota-on-team-save")


def _team_saved(sender, instance, created, **kwargs):
    """A changed contact quota moves the over-quota line (teams are saved rarely: settings, admin)."""
    if not created:
        from . import quota

        quota.schedule_refresh(instance.pk)
