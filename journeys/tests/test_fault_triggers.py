"""Fault test (issue 23.1): the worker is killed (SIGKILL) at random points while a burst of accepted journey
triggers arrives through the events API, on PostgreSQL with Redis as the broker. Every accepted trigger must be
enrolled exactly once: the hand-off rows, not the Redis messages, carry the work."""

import os
import random
import subprocess
import sys
import time

import pytest
from django.conf import settings

from accounts.models import Handoff
from accounts.tasks import drain_handoffs
from cdp.tests.factories import ContactFactory
from journeys.models import Enrollment
from journeys.tests.factories import delay, published_journey
from tests.qcluster import ROOT, Worker, needs_redis

CONSUMER = "journeys.tasks.on_customer_events"
BATCHES, SIZE = 20, 100


@pytest.mark.postgres
@pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL (SKIP LOCKED, several processes)")
@needs_redis
@pytest.mark.django_db(transaction=True)
def test_worker_killed_during_a_trigger_burst_enrols_every_accepted_trigger_once(team, line):
    journey = published_journey(team, line, [delay(hours=1)], trigger_type="system", trigger_config={"name": "burst"})
    contacts = [ContactFactory(team=team, channel=line, external_id=f"U{n:06d}") for n in range(BATCHES * SIZE)]
    worker = Worker(f"fault{os.getpid()}").start()
    rng = random.Random(23)
    producer = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "journeys.tests.burst_producer",
            str(team.pk),
            str(line.pk),
            "U",
            str(BATCHES),
            str(SIZE),
        ],
        cwd=ROOT,
        env=worker.env,
        stdout=subprocess.PIPE,
        text=True,
    )
    kills = 0
    try:
        while producer.poll() is None and kills < 3:
            time.sleep(rng.uniform(0.5, 2.0))
            worker.restart()  # mid-task or between tasks, wherever it is
            kills += 1
        accepted = sum(int(line_.split()[0]) for line_ in producer.communicate(timeout=120)[0].splitlines())
        time.sleep(rng.uniform(0.0, 1.0))
        worker.kill()  # once more after the burst: hints already taken from Redis die with it
    finally:
        if producer.poll() is None:
            producer.kill()
        worker.cleanup()
    assert accepted == BATCHES * SIZE and kills >= 1
    enrolled_by_workers = Enrollment.objects.filter(journey=journey).count()
    # What the per-minute backstop Schedule runs: it finds every row the dead workers left.
    drain_handoffs(CONSUMER, linger=0)
    assert not Handoff.objects.filter(consumer=CONSUMER).exists()
    per_customer = {}
    for customer_id in Enrollment.objects.filter(journey=journey).values_list("customer_id", flat=True):
        per_customer[customer_id] = per_customer.get(customer_id, 0) + 1
    assert per_customer == {contact.customer_id: 1 for contact in contacts}, (
        f"{len(per_customer)} of {len(contacts)} enrolled ({enrolled_by_workers} before the backstop)"
    )
