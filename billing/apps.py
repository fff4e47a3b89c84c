from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_schedules(sender, **kwargs):
    from .tasks import ensure_schedules

    ensure_schedules()


class BillingConfig(AppConfig):
    name = "billing"

    def ready(self):
        from accounts import warnings

        from .warnings import low_balance_warnings

        warnings.register(low_balance_warnings)
        # The hourly monthly-bill Schedule (billing.tasks.SCHEDULES) is created idempotently after migrate.
        post_migrate.connect(_ensure_schedules, sender=self, dispatch_uid="billing-schedules")
