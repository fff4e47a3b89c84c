"""/healthz reports what to watch when running many workers: queue depth and the oldest unprocessed webhook event."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone
from django_q.brokers import get_broker

from cdp.tests.factories import ChannelFactory
from messaging.models import WebhookEvent

pytestmark = pytest.mark.django_db


def _healthz(client):
    with mock.patch("accounts.views.worker_heartbeat", return_value=timezone.now()):
        return client.get("/healthz").json()


def _event(team, channel, key, received_at, **fields):
    return WebhookEvent.objects.create(
        team=team,
        channel=channel,
        dedup_key=key,
        kind="message",
        occurred_at=received_at,
        received_at=received_at,
        **fields,
    )


def test_oldest_webhook_event_age_counts_only_events_a_worker_may_take(client, team):
    line = ChannelFactory(team=team, kind="line")
    now = timezone.now()
    assert _healthz(client)["oldest_webhook_event_age_seconds"] == 0.0
    _event(team, line, "done", now - timedelta(hours=2), processed_at=now, state="processed")
    _event(team, line, "later", now - timedelta(hours=1), retry_at=now + timedelta(minutes=5))
    _event(team, line, "waiting", now - timedelta(seconds=90))
    assert 90 <= _healthz(client)["oldest_webhook_event_age_seconds"] < 120


def test_queue_depth_counts_tasks_no_worker_has_taken(client, settings):
    broker = get_broker(settings.Q_CLUSTER["name"])
    broker.enqueue("hint-1")
    broker.enqueue("hint-2")
    get_broker(settings.Q_HEAVY_CLUSTER).enqueue("rollup")
    body = _healthz(client)
    assert body["queue_depth"] == 3
    assert body["queue_depth_by_cluster"] == {settings.Q_CLUSTER["name"]: 2, settings.Q_HEAVY_CLUSTER: 1}
    assert "replica_lag_seconds" not in body  # no replica configured
