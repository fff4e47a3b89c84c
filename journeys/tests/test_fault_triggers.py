"""Fault test (issue 23.1): the worker is killed (SIGKILL) at random points while a burst of accepted journey
triggers arrives through the events API, on PostgreSQL with Redis as the broker. Every accepted trigger must be
enrolled exactly once: the hand-off rows, not the Redis messages, carry the work."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from accounts.models import Handoff
from accounts.tasks import drain_handoffs
from cdp.tests.factories import ContactFactory
from journeys.models import Enrollment
from journeys.tests.factories import delay, published_journey

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("FAULT_REDIS_URL", "redis://127.0.0.1:6379/0")
CONSUMER = "journeys.tasks.on_customer_events"
BATCHES, SIZE = 20, 100


def _redis_up():
    try:
        import redis

        return redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception:  # noqa: BLE001 - any failure means no Redis to test against
        return False


def _env(queue):
    db = connection.settings_dict
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": REDIS_URL,
        "Q_NAME": queue,
        "Q_WORKERS": "2",
        "PYTHONPATH": str(ROOT),
        "DEBUG": "1",
    }


def _start_worker(env):
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        start_new_session=True,  # its own process group: a kill takes the workers with it, like a machine dying
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _kill(worker):
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)


@pytest.mark.postgres
@pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL (SKIP LOCKED, several processes)")
@pytest.mark.skipif(not _redis_up(), reason=f"needs Redis at {REDIS_URL} (.ci/run starts it)")
@pytest.mark.django_db(transaction=True)
def test_worker_killed_during_a_trigger_burst_enrols_every_accepted_trigger_once(team, line):
    journey = published_journey(team, line, [delay(hours=1)], trigger_type="system", trigger_config={"name": "burst"})
    contacts = [ContactFactory(team=team, channel=line, external_id=f"U{n:06d}") for n in range(BATCHES * SIZE)]
    env = _env(f"fault{os.getpid()}")
    rng = random.Random(23)
    worker = _start_worker(env)
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
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    kills = 0
    try:
        while producer.poll() is None and kills < 3:
            time.sleep(rng.uniform(0.5, 2.0))
            _kill(worker)  # mid-task or between tasks, wherever it is
            kills += 1
            worker = _start_worker(env)
        accepted = sum(int(line_.split()[0]) for line_ in producer.communicate(timeout=120)[0].splitlines())
        time.sleep(rng.uniform(0.0, 1.0))
        _kill(worker)  # once more after the burst: hints already taken from Redis die with it
    finally:
        for process in (producer, worker):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL) if process is worker else process.kill()
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
