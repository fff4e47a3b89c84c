"""Journey engine benchmark: 100,000 enrollments through delay → split → tag → message (sandbox LINE channel).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/journeys REDIS_URL=redis://127.0.0.1:6379/7 \
        .venv/bin/python manage.py bench journeys_engine

Phase 1 (throughput): every enrollment waits on the delay and is due at once; two `run_journeys` worker
processes drain them (split, tag, message = 3 steps each). Figure: steps/s.
Phase 2 (latency): a stream of enrollments falling due over time at about half the measured capacity; figure:
due → started p95 (first step's batch start minus the due time).
Reference: the raw `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED LIMIT 500)` claim rate of the same
table (rows/s), in the same run.
"""

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Team
from accounts.services import create_team
from cdp.models import Channel, Contact, Customer
from core.benchmarks import benchmark, figure
from messaging.models import ChatbotModule

from . import (
    bench_reliability,  # noqa: F401 - registers `bench reliability`
    bench_workers,  # noqa: F401 - registers `bench workers_scale`
)

ROOT = Path(__file__).resolve().parents[1]


def _setup(n):
    from . import graph as g
    from .models import Journey, JourneyChannel
    from .services import publish

    team = Team.objects.filter(slug="bench-journeys").first() or create_team(
        slug="bench-journeys", name="Bench journeys"
    )
    team.contact_quota = max(team.contact_quota, n * 2)
    team.save(update_fields=["contact_quota"])
    channel, _ = Channel.objects.get_or_create(
        team=team, kind="line", external_id="bench-line", defaults={"name": "Bench LINE", "is_sandbox": True}
    )
    have = Contact.objects.filter(team=team, channel=channel).count()
    if have < n:
        customers = Customer.objects.bulk_create(
            [Customer(team=team, name=f"B{i}") for i in range(have, n)], batch_size=5000
        )
        Contact.objects.bulk_create(
            [
                Contact(
                    team=team, channel=channel, customer=c, external_id=f"Ubench{c.pk}", subscribed_at=timezone.now()
                )
                for c in customers
            ],
            batch_size=5000,
        )
    module, _ = ChatbotModule.objects.get_or_create(
        team=team, name="bench", defaults={"type": "text_buttons", "content": {"text": "hi", "buttons": []}}
    )
    nodes = [
        {"id": g.new_node_id(), "type": "delay", "config": {"minutes": 1}},
        {
            "id": g.new_node_id(),
            "type": "split",
            "config": {"conditions": {"op": "and", "children": [{"type": "points_balance", "op": "gte", "value": 0}]}},
            "yes": [
                {"id": g.new_node_id(), "type": "tags", "config": {"add": ["bench-engaged"], "remove": []}},
                {
                    "id": g.new_node_id(),
                    "type": "message",
                    "config": {"channel_id": channel.pk, "kind": "module", "module_id": module.pk},
                },
            ],
            "no": [],
        },
    ]
    journey = Journey.objects.create(team=team, name=f"bench {timezone.now():%H%M%S}", draft_graph={"nodes": nodes})
    JourneyChannel.objects.create(team=team, journey=journey, channel=channel)
    publish(journey)
    journey.refresh_from_db()
    contact_rows = list(
        Contact.objects.filter(team=team, channel=channel).order_by("id").values_list("id", "customer_id")[:n]
    )
    return team, journey, contact_rows, nodes[0]["id"]


def _enroll(team, journey, contacts, delay_id, due_times):
    from .models import Enrollment

    Enrollment.objects.bulk_create(
        [
            Enrollment(
                team=team,
                journey=journey,
                version=journey.current_version,
                customer_id=customer_id,
                contact_id=contact_id,
                node=delay_id,
                waiting=True,
                state="active",
                next_run_at=due,
                entered_at=due,
            )
            for (contact_id, customer_id), due in zip(contacts, due_times, strict=True)
        ],
        batch_size=5000,
    )


def _workers(count, *extra):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return [
        subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "run_journeys", "--batch", "500", *extra],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]


def _steps(journey):
    from .models import EnrollmentStep

    return EnrollmentStep.objects.filter(team=journey.team, version=journey.current_version).count()


def _raw_claim_rate(journey):
    """Re-arm the finished enrollments and claim them with hand-written SKIP LOCKED SQL, 500 at a time."""
    from .models import Enrollment

    table = Enrollment._meta.db_table
    now = timezone.now()
    Enrollment.objects.filter(journey=journey).update(state="active", next_run_at=now, claimed_until=None)
    claimed = 0
    start = time.perf_counter()
    with connection.cursor() as cursor:
        while True:
            with transaction.atomic():
                cursor.execute(
                    f"UPDATE {table} SET claimed_until = %s WHERE id IN ("  # noqa: S608 - our table name
                    f"SELECT id FROM {table} WHERE state = 'active' AND next_run_at <= %s AND claimed_until IS NULL "
                    "ORDER BY next_run_at LIMIT 500 FOR UPDATE SKIP LOCKED) RETURNING id",
                    [now + timedelta(minutes=5), now],
                )
                got = len(cursor.fetchall())
            if not got:
                break
            claimed += got
    elapsed = time.perf_counter() - start
    Enrollment.objects.filter(journey=journey).update(state="completed", next_run_at=None, claimed_until=None)
    return claimed / elapsed if elapsed else 0.0, claimed


@benchmark(
    "journeys_engine", help="100k enrollments: delay → split → tag → message, two workers", requires_postgres=True
)
def journeys_engine(scale=1.0):
    n = max(200, int(100_000 * scale))
    team, journey, contacts, delay_id = _setup(n)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # Phase 1: a backlog of n enrollments due now.
    now = timezone.now()
    _enroll(team, journey, contacts, delay_id, [now] * n)
    start = time.perf_counter()
    workers = _workers(2, "--exit-when-idle")
    for worker in workers:
        worker.wait()
    elapsed = time.perf_counter() - start
    steps = _steps(journey)
    yield figure(
        "steps_per_second", steps / elapsed, "steps/s", n=steps, workers=2, enrollments=n, seconds=round(elapsed, 1)
    )
    rate, claimed = _raw_claim_rate(journey)
    yield figure("claim_rows_per_second", rate, "rows/s", n=claimed, reference="raw_sql")

    # Phase 2: a stream due over time at ~half the measured enrollment capacity.
    from .models import Enrollment, EnrollmentStep

    per_second = max(20.0, (steps / elapsed) / 3 / 2)
    m = min(n, max(200, int(per_second * 30)))
    version = journey.current_version
    Enrollment.objects.filter(journey=journey).delete()
    base = timezone.now() + timedelta(seconds=3)
    dues = [base + timedelta(seconds=i / per_second) for i in range(m)]
    _enroll(team, journey, contacts[:m], delay_id, dues)
    window = m / per_second
    workers = _workers(2, "--seconds", str(window + 20))
    deadline = time.monotonic() + window + 60
    while time.monotonic() < deadline and Enrollment.objects.filter(journey=journey, state="active").exists():
        time.sleep(1)
    for worker in workers:
        worker.terminate()
        worker.wait()
    first = {}
    for enrollment_id, at in EnrollmentStep.objects.filter(team=team, version=version, node_type="split").values_list(
        "enrollment_id", "at"
    ):
        first[enrollment_id] = at
    lags = sorted(
        (first[pk] - entered).total_seconds()
        for pk, entered in Enrollment.objects.filter(journey=journey).values_list("pk", "entered_at")
        if pk in first
    )
    if lags:
        p95 = lags[min(len(lags) - 1, int(0.95 * (len(lags) - 1)))]
        yield figure("due_to_started_p95", p95, "s", n=len(lags), rate=round(per_second, 1))
        yield figure("due_to_started_p50", lags[len(lags) // 2], "s", n=len(lags))
