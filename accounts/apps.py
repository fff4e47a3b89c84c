from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_schedules(sender, **kwargs):
    from .handoff import ensure_schedules

    ensure_schedules()


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        from . import schema  # noqa: F401  (registers the OpenAPI auth extensions)

        # The per-minute backstop drains of the hand-offs (one per consumer) are created after every migrate.
        post_migrate.connect(_ensure_schedules, sender=self, dispatch_uid="accounts-handoff-schedules")
