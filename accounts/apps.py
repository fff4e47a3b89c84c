from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_schedules(sender, **kwargs):
    from .tasks import ensure_schedules

    ensure_schedules()


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        from . import schema  # noqa: F401  (registers the OpenAPI auth extensions)

        # The per-minute backstop Schedules (accounts.tasks: hand-off drains, outbound webhooks) after every migrate.
        post_migrate.connect(_ensure_schedules, sender=self, dispatch_uid="accounts-schedules")
