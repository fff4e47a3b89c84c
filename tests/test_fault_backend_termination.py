"""Fault test (issue 23): the database ends the connections of the workers and of the load every second or so for
ten seconds (pg_terminate_backend), while journey triggers arrive through the events API, LINE webhooks are
stored and processed, and the hand-offs to journeys and analytics drain, on PostgreSQL with real django-q2
workers on Redis. Once the terminations stop and the backstops run, nothing accepted is lost and nothing is
done twice: every accepted trigger enrolled once, every stored webhook event processed once, no hand-off row
left."""

import os
import random
import subprocess
import sys
import time
from collections import Counter

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from accounts.models import Handoff
from cdp.models import Contact, CustomerEvent, EventType
from cdp.tests.factories import ChannelFactory, bulk_contacts
from journeys.models import Enrollment
from journeys.tests.factories import delay, published_journey
from messaging.models import InboundMessage, WebhookEvent
from tests.qcluster import ROOT, Worker, needs_redis, send_hints_to, subprocess_env, wait_until

BATCHES, SIZE = 20, 20  # 400 journey triggers
PER_WEBHOOK, USERS = 10, 50  # 200 webhook events from 50 LINE users
PAUSE = 0.35  # between batches: the load lasts about as long as the terminations
ROUNDS = 10  # terminations, about a second apart
LINE_SECRET = "line-channel-secret"  # tests.fault_load signs with it
NOWHERE = "http://127.0.0.1:9"  # platform APIs: nothing here sends, and nothing may reach the internet

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not settings.IS_POSTGRES, reason="terminates PostgreSQL backends (pg_terminate_backend)"),
    needs_redis,
    pytest.mark.django_db(transaction=True),
]


def _terminate(killer, names):
    """End the backends of our processes (never this test's own connection). Returns how many."""
    rows = killer.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = ANY(%s)",
        [list(names)],
    ).fetchall()
    return sum(1 for (done,) in rows if done)


def test_backends_terminated_during_load_lose_nothing_and_do_nothing_twice(team, monkeypatch, tmp_path):
    rng = random.Random(23)
    shop = ChannelFactory(team=team, kind="line", credentials={"access_token": "t", "channel_secret": "s"})
    line = ChannelFactory(team=team, kind="line", credentials={"access_token": "t", "channel_secret": LINE_SECRET})
    contacts = bulk_contacts(shop, [f"U{n:06d}" for n in range(BATCHES * SIZE)])
    journey = published_journey(team, shop, [delay(hours=1)], trigger_type="system", trigger_config={"name": "burst"})
    queue = f"fault-terminate-{os.getpid()}"
    send_hints_to(queue, monkeypatch)
    platforms = {"MESSAGING_LINE_API_BASE": NOWHERE, "MESSAGING_META_GRAPH_BASE": NOWHERE}
    workers = [
        Worker(queue, log=tmp_path / "worker.log", **platforms),
        Worker(queue, heavy=True, workers=1, log=tmp_path / "heavy.log", **platforms),
    ]
    args = [team.pk, shop.pk, line.pk, BATCHES, SIZE, PER_WEBHOOK, USERS, PAUSE]
    names = ("fault-worker", "fault-load")
    terminated = []
    db = connection.settings_dict
    load = None
    try:
        for worker in workers:
            worker.start()
        with open(tmp_path / "load.log", "wb") as log:
            load = subprocess.Popen(
                [sys.executable, "-m", "tests.fault_load", *map(str, args)],
                cwd=ROOT,
                env=subprocess_env(queue, "fault-load", **platforms),
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        with psycopg.connect(
            host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"] or None, dbname=db["NAME"]
        ) as killer:
            killer.autocommit = True

            def connected():
                found = killer.execute(
                    "SELECT DISTINCT application_name FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name = ANY(%s)",
                    [list(names)],
                ).fetchall()
                return len(found) == len(names)

            assert wait_until(connected, timeout=30, every=0.1), "the workers and the load never connected"
            for _round in range(ROUNDS):
                time.sleep(rng.uniform(0.7, 1.3))
                terminated.append(_terminate(killer, names))
        output, _ = load.communicate(timeout=90)
        assert load.returncode == 0, f"the load failed (see {tmp_path / 'load.log'})"

        # Recovery: the per-minute backstop Schedules (here every second) find what the lost hints and batches left.
        def backstops():
            for consumer in settings.CUSTOMER_EVENT_CONSUMERS:
                worker = workers[1] if consumer in settings.HEAVY_TASKS else workers[0]
                worker.fire("accounts.tasks.drain_handoffs", consumer)
            for consumer in settings.SIGNAL_CONSUMERS:
                workers[0].fire("accounts.tasks.drain_handoffs", consumer)
            workers[0].fire("messaging.tasks.drain_webhook_events")

        def recovered():
            pending = WebhookEvent.objects.filter(processed_at__isnull=True)
            return not Handoff.objects.exists() and not pending.exists()

        assert wait_until(recovered, timeout=30, tick=backstops), (
            f"not recovered: {Handoff.objects.count()} hand-off rows, "
            f"{WebhookEvent.objects.filter(processed_at__isnull=True).count()} webhook events pending"
        )
    finally:
        if load is not None and load.poll() is None:
            load.kill()
            load.wait(timeout=10)
        for worker in workers:
            worker.cleanup()

    answers = [line_.split() for line_ in output.splitlines()]
    events = [tuple(map(int, a[1:])) for a in answers if a[0] == "events"]
    webhooks = [tuple(map(int, a[1:])) for a in answers if a[0] == "webhook"]
    assert len(events) == len(webhooks) == BATCHES
    # Every trigger was accepted, once: by the attempt that answered, or by an earlier one whose answer was lost.
    assert sum(accepted + duplicates for accepted, duplicates, _r, _a in events) == BATCHES * SIZE
    assert [rejected for _a, _d, rejected, _n in events] == [0] * BATCHES
    retried = sum(attempts > 1 for *_counts, attempts in events + webhooks)
    # The terminations hit the workers and the load, again and again, while the load ran.
    assert sum(terminated) >= ROUNDS and retried >= 1, (terminated, retried)

    enrollments = Enrollment.objects.filter(journey=journey)
    per_customer = Counter(enrollments.values_list("customer_id", flat=True))
    assert per_customer == {contact.customer_id: 1 for contact in contacts}
    # None ended because a connection did (a claim cut short waits for its lease, then runs again).
    assert Counter(enrollments.values_list("state", flat=True)) == {"active": BATCHES * SIZE}
    recorded = CustomerEvent.objects.filter(type=EventType.SYSTEM, data__name="burst")
    assert Counter(recorded.values_list("customer_id", flat=True)) == per_customer  # one timeline event each

    stored = WebhookEvent.objects.filter(channel=line)
    assert stored.count() == BATCHES * PER_WEBHOOK
    assert Counter(stored.values_list("state", flat=True)) == {"processed": BATCHES * PER_WEBHOOK}
    messages = Counter(InboundMessage.objects.filter(channel=line).values_list("external_id", flat=True))
    assert messages == {f"5{n:08d}": 1 for n in range(BATCHES * PER_WEBHOOK)}
    assert Contact.objects.filter(channel=line).count() == USERS
