import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from cdp.tests.factories import ContactFactory
from journeys import engine
from journeys.models import Enrollment, EnrollmentStep
from journeys.tests.factories import enroll_directly, message, node, published_journey
from messaging.models import OutboundMessage

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.postgres
@pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL (a second process, row locks)")
@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_batch_sends_each_message_exactly_once(team, line, module, tmp_path, settings):
    journey = published_journey(
        team, line, [node("tags", add=["seen"], remove=[]), message(line, module), node("points", op="add", amount=1)]
    )
    enrollments = [enroll_directly(journey, ContactFactory(channel=line)) for _ in range(60)]
    marker = tmp_path / "marker"
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "BATCH": "20",
        "Q_SYNC": "1",
        "PYTHONPATH": str(ROOT),
    }
    worker = subprocess.Popen([sys.executable, "-m", "journeys.tests.crash_worker", str(marker)], cwd=ROOT, env=env)
    try:
        for _ in range(600):
            if marker.exists():
                break
            time.sleep(0.1)
        assert marker.exists(), "the worker never reached its second batch"
        # Mid-batch: the first batch is committed, the second holds uncommitted steps and outbox rows.
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    done_before = Enrollment.objects.filter(journey=journey, state="completed").count()
    assert done_before == 20
    stranded = set(Enrollment.objects.filter(journey=journey, claimed_until__isnull=False).values_list("pk", flat=True))
    assert len(stranded) == 20  # the killed batch's claim is still there...
    completed = set(Enrollment.objects.filter(journey=journey, state="completed").values_list("pk", flat=True))
    sent_to = {
        int(k.split(":")[1])
        for k in OutboundMessage.objects.filter(team=team).values_list("idempotency_key", flat=True)
    }
    assert sent_to == completed  # ... its outbox rows were rolled back with it ...
    ids, token = engine.claim(now=timezone.now())
    assert len(ids) == 20 and not stranded & set(ids)  # ... and nobody else may take those rows yet
    engine.process(ids, token)
    # The sweeper makes them due again once the lease expires; then everyone finishes.
    later = timezone.now() + engine.LEASE + dt.timedelta(seconds=1)
    assert engine.sweep(now=later) == 20
    while engine.run_batch(50, now=later):
        pass
    assert Enrollment.objects.filter(journey=journey).exclude(state="completed").count() == 0
    per_enrollment = {}
    for key in OutboundMessage.objects.filter(team=team, origin="journey").values_list("idempotency_key", flat=True):
        enrollment_id = int(key.split(":")[1])
        per_enrollment[enrollment_id] = per_enrollment.get(enrollment_id, 0) + 1
    assert per_enrollment == {e.pk: 1 for e in enrollments}
    assert EnrollmentStep.objects.filter(enrollment__journey=journey, node_type="message").count() == 60
    for enrollment in enrollments:
        enrollment.customer.refresh_from_db()
        assert enrollment.customer.points_balance == 1  # the action ran once too
