"""Queue messages are hints: the per-minute Schedules find stored webhook events and due sends whose hint was
lost, and a drain task under steady traffic ends before the worker's timeout."""

import time

import pytest
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.models import Schedule

from cdp.tests.factories import ChannelFactory, ContactFactory
from messaging import tasks
from messaging.models import InboundMessage, OutboundMessage, WebhookEvent
from messaging.services import ingest, outbox, processing

from .payloads import LINE_SECRET, line_body, line_text, post_line

pytestmark = pytest.mark.django_db

NAMES = [name for name, _ in tasks.SCHEDULES]


def _run_schedule(name):
    """What django-q2's scheduler does with a due Schedule: import its func and run it."""
    schedule = Schedule.objects.get(name=name)
    assert schedule.schedule_type == Schedule.MINUTES and schedule.minutes == 1 and schedule.repeats == -1
    return import_string(schedule.func)()


def test_schedules_exist_after_migrate_and_are_idempotent():
    assert Schedule.objects.filter(name__in=NAMES).count() == len(NAMES) == 4  # created by the post_migrate handler
    Schedule.objects.filter(name=NAMES[0]).update(minutes=30)
    tasks.ensure_schedules()
    tasks.ensure_schedules()
    assert Schedule.objects.filter(name__in=NAMES).count() == 4
    assert Schedule.objects.get(name=NAMES[0]).minutes == 1
    assert set(Schedule.objects.filter(name__in=NAMES).values_list("func", flat=True)) == {
        "messaging.tasks.drain_webhook_events",
        "messaging.tasks.dispatch_outbox",
        "messaging.tasks.send_comment_replies",
        "messaging.tasks.resume_friend_syncs",
    }


def test_webhook_events_whose_hint_was_lost_are_processed_by_the_schedule(client, team, monkeypatch):
    line = ChannelFactory(team=team, kind="line", credentials={"channel_secret": LINE_SECRET})
    monkeypatch.setattr(ingest, "hint_processing", lambda: False)  # the enqueued task is lost
    assert post_line(client, line, line_body(line_text("hello", ts=1700000000000))).status_code == 200
    event = WebhookEvent.objects.get()
    assert event.processed_at is None and not InboundMessage.objects.exists()
    assert _run_schedule("messaging: webhook events") == 1
    event.refresh_from_db()
    assert event.processed_at is not None and event.error == ""
    assert InboundMessage.objects.get().text == "hello"
    assert _run_schedule("messaging: webhook events") == 0


def test_due_sends_whose_hint_was_lost_are_sent_by_the_schedule(team, monkeypatch):
    sandbox = ChannelFactory(team=team, kind="line", is_sandbox=True)
    monkeypatch.setattr(outbox, "_hint_dispatch", lambda: None)
    message, _ = outbox.enqueue(
        team=team,
        channel=sandbox,
        contact=ContactFactory(channel=sandbox),
        content={"type": "text", "text": "x"},
        origin="agent",
        origin_id="",
        idempotency_key="a:lost",
    )
    assert OutboundMessage.objects.get(pk=message.pk).status == "queued"
    assert _run_schedule("messaging: outbox") == 1
    message.refresh_from_db()
    assert message.status in ("sent", "delivered", "read") and message.sent_at <= timezone.now()


def test_drain_under_steady_traffic_stops_after_max_seconds(monkeypatch):
    calls = []

    def always_one(**kwargs):  # a backlog that never empties; a batch takes 10 ms
        calls.append(1)
        assert len(calls) < 200, "drain never stopped"
        time.sleep(0.01)
        return 1

    monkeypatch.setattr(processing, "process_batch", always_one)
    assert processing.drain(linger=10, max_seconds=0.2) == len(calls) > 0


def test_drain_task_is_bounded_below_the_worker_timeout(monkeypatch):
    from django_q.conf import Conf

    seen = {}
    monkeypatch.setattr(processing, "drain", lambda **kw: seen.update(kw) or 0)
    monkeypatch.setattr(Conf, "TIMEOUT", 90)
    tasks.process_webhook_events()
    assert seen["max_seconds"] == 45
    seen.clear()
    tasks.drain_webhook_events()
    assert seen == {"max_seconds": 45}  # the backstop does not linger
