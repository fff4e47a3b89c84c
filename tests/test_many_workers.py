"""Many workers (issue 21): more `manage.py qcluster` processes only add throughput, they never duplicate work.

Three real django-q2 clusters (one worker process each, on Redis, against the test database) drain one backlog of
stored LINE webhook events at the same time, claiming batches with SKIP LOCKED. Counted afterwards: every event
processed once (0 lost), one inbound message per LINE message id (0 duplicates), the drains' own counts add up to
the backlog (no event claimed twice), and more than one process took part.
"""

import os
from collections import Counter

import pytest
from django.conf import settings
from django_q.models import Task

from cdp.tests.factories import ChannelFactory
from messaging.models import InboundMessage, WebhookEvent
from messaging.services import ingest
from messaging.tests.payloads import LINE_SECRET, line_body, line_text
from tests.qcluster import Worker, broker, needs_redis, wait_until

EVENTS, USERS, PROCESSES, BATCH = 900, 90, 3, 15
NOWHERE = "http://127.0.0.1:9"  # platform APIs: nothing here sends, and nothing may reach the internet

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not settings.IS_POSTGRES, reason="SKIP LOCKED claims across processes need PostgreSQL"),
    needs_redis,
    pytest.mark.django_db(transaction=True),
]


def _fire(monkeypatch, queue, func, *args, group):
    """Enqueue `func` on `queue` (one worker's own queue), signed as that worker expects."""
    from django_q import tasks
    from django_q.conf import Conf

    with monkeypatch.context() as patch:
        patch.setattr(Conf, "SYNC", False)
        patch.setattr(Conf, "PREFIX", queue)
        patch.setattr(tasks, "get_broker", lambda cluster=None: broker(queue))
        tasks.async_task(func, *args, task_name=f"{group}:{func}", group=group)


def test_three_qcluster_processes_drain_one_webhook_backlog_once(team, monkeypatch, tmp_path):
    line = ChannelFactory(team=team, kind="line", credentials={"access_token": "t", "channel_secret": LINE_SECRET})
    # Each worker on its own queue, so the test decides that all three work at once (one cluster's pusher would
    # otherwise take every task from a shared list); what they share is the database, where the claims happen.
    queues = [f"scale-workers-{os.getpid()}-{n}" for n in range(PROCESSES)]
    platforms = {"MESSAGING_LINE_API_BASE": NOWHERE, "MESSAGING_META_GRAPH_BASE": NOWHERE}
    workers = [
        Worker(queue, workers=1, application_name=f"scale-worker-{n}", log=tmp_path / f"worker{n}.log", **platforms)
        for n, queue in enumerate(queues)
    ]
    try:
        for worker in workers:
            worker.start()
        # Warm-up: each cluster answers a trivial task, so all three are running before the backlog exists.
        for n, queue in enumerate(queues):
            _fire(monkeypatch, queue, "math.sqrt", 4, group=f"warm{n}")
        assert wait_until(lambda: Task.objects.filter(group__startswith="warm").count() == PROCESSES, timeout=90), (
            f"the workers did not start (see {tmp_path})"
        )

        events = [line_text(f"m{n}", user=f"U{n % USERS:032d}", ts=1700000000000 + n) for n in range(EVENTS)]
        body = line_body(*events)
        stored = ingest.store(ingest.parse_line(line, body, ingest.line_signature(LINE_SECRET, body)), channel=line)
        assert stored == EVENTS and WebhookEvent.objects.filter(processed_at__isnull=True).count() == EVENTS

        for n, queue in enumerate(queues):  # one drain per process, all at once: batches of BATCH, no linger
            _fire(monkeypatch, queue, "messaging.tasks.process_webhook_events", None, BATCH, 0, group=f"drain{n}")

        def drained():
            return Task.objects.filter(group__startswith="drain").count() == PROCESSES

        assert wait_until(drained, timeout=120, every=0.2), (
            f"{WebhookEvent.objects.filter(processed_at__isnull=True).count()} events still pending (see {tmp_path})"
        )
    finally:
        for worker in workers:
            worker.cleanup()

    drains = {task.group: task for task in Task.objects.filter(group__startswith="drain")}
    assert all(task.success for task in drains.values()), {g: t.result for g, t in drains.items()}
    handled = {group: task.result for group, task in drains.items()}
    # 0 lost: every stored event was processed; 0 duplicates: one inbound message per LINE message id, and the
    # drains' own counts of the events they claimed add up to the backlog exactly (none claimed twice).
    assert Counter(WebhookEvent.objects.filter(channel=line).values_list("state", flat=True)) == {"processed": EVENTS}
    messages = Counter(InboundMessage.objects.filter(channel=line).values_list("external_id", flat=True))
    assert len(messages) == EVENTS and set(messages.values()) == {1}
    assert sum(handled.values()) == EVENTS, handled
    # More than one process claimed batches of the same backlog at the same time.
    assert sum(1 for count in handled.values() if count > 0) >= 2, handled
