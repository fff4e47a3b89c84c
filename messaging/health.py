"""What /healthz reports for messaging (accounts.health): how long the oldest unprocessed webhook event has waited."""

from django.db.models import Min, Q
from django.utils import timezone

from accounts import health

from .models import WebhookEvent


@health.register("oldest_webhook_event_age_seconds")
def oldest_webhook_event_age_seconds():
    """Seconds since the oldest pending webhook event (not waiting on a retry_at) was received; 0 when none waits.
    Every team's: the workers drain all teams' events, so a backlog anywhere is the workers' backlog."""
    now = timezone.now()
    oldest = (
        WebhookEvent.objects.filter(processed_at__isnull=True)
        .filter(Q(retry_at__isnull=True) | Q(retry_at__lte=now))
        .aggregate(first=Min("received_at"))["first"]
    )
    return round((now - oldest).total_seconds(), 1) if oldest else 0.0
