"""`bench workers_scale`: the same backlog drained by 1, 2 and 4 worker processes, counted for duplicates and losses.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench REDIS_URL=redis://127.0.0.1:6379/7 \
        .venv/bin/python manage.py bench workers_scale [--scale 0.2]

1. Webhook events: 100,000 stored LINE text events (10 per user) drained by P processes, each running the worker's
   own drain (`messaging.services.processing.drain`, batches claimed with SKIP LOCKED). Figure: events/s. Counted:
   every event processed (0 lost), one inbound message per LINE message id (0 duplicates).
2. Journey steps: 100,000 enrollments due at once (delay → split → tag → message, 3 steps each) drained by P
   `run_journeys` processes (journeys.bench). Figure: steps/s. Counted: every enrollment completed (0 lost), one
   step per (enrollment, node) (0 duplicates).
Each figure sits beside the raw claim rate of the same table (hand-written UPDATE … FOR UPDATE SKIP LOCKED, 500 a
batch, one process): the ceiling the claim itself puts on the workers.
"""

import os
import subprocess
import sys
import time

import orjson
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from accounts.models import Team
from accounts.services import create_team
from cdp.models import Channel
from core.benchmarks import benchmark, figure
from messaging.models import InboundMessage, WebhookEvent
from messaging.services import ingest

from . import bench as engine_bench

PROCESSES = (1, 2, 4)
SECRET = "bench-workers-secret"
EVENTS_PER_USER = 10
NOWHERE = "http://127.0.0.1:9"
PLATFORMS = {"MESSAGING_LINE_API_BASE": NOWHERE, "MESSAGING_META_GRAPH_BASE": NOWHERE}


def _team():
    team = Team.objects.filter(slug="bench-workers").first() or create_team(slug="bench-workers", name="Bench workers")
    channel, _ = Channel.objects.get_or_create(
        team=team,
        kind="line",
        external_id="bench-workers-line",
        defaults={"name": "Bench workers LINE", "is_sandbox": True, "credentials": {"channel_secret": SECRET}},
    )
    team.contact_quota = max(team.contact_quota, 10_000_000)
    team.save(update_fields=["contact_quota"])
    return team, channel


def _store_backlog(channel, n, run):
    """n LINE text events from n / 10 users, stored as the webhook view stores them (1,000 per request)."""
    base = int(time.time() * 1000)
    stored = 0
    for start in range(0, n, 1000):
        events = [
            {
                "type": "message",
                "mode": "active",
                "timestamp": base + i,
                "source": {"type": "user", "userId": f"U{run}w{i // EVENTS_PER_USER:028d}"},
                "webhookEventId": f"bw-{run}-{i}",
                "deliveryContext": {"isRedelivery": False},
                "message": {"type": "text", "id": f"bw{run}m{i}", "text": f"hello {i}", "quoteToken": "q"},
            }
            for i in range(start, min(n, start + 1000))
        ]
        body = orjson.dumps({"destination": "Ubench", "events": events})
        stored += ingest.store(ingest.parse_line(channel, body, ingest.line_signature(SECRET, body)), channel=channel)
    return stored


def _drainers(count, team_id):
    code = (
        "from messaging.services import processing; "
        f"print(processing.drain(team_id={team_id}, batch_size=500, linger=0))"
    )
    # The sandbox channel never sends; profile look-ups go nowhere rather than to the internet.
    env = {**os.environ, "PYTHONPATH": str(engine_bench.ROOT), **PLATFORMS}
    return [
        subprocess.Popen(
            [sys.executable, str(engine_bench.ROOT / "manage.py"), "shell", "-c", code],
            cwd=engine_bench.ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]


def _raw_webhook_claim_rate(team, run):
    """Re-arm the run's events and claim them with hand-written SKIP LOCKED SQL, 500 at a time."""
    table = WebhookEvent._meta.db_table
    rows = WebhookEvent.objects.filter(team=team, dedup_key__startswith=f"line:bw-{run}-")
    rows.update(processed_at=None)
    claimed, start = 0, time.perf_counter()
    with connection.cursor() as cursor:
        while True:
            with transaction.atomic():
                cursor.execute(
                    f"UPDATE {table} SET processed_at = now() WHERE id IN ("  # noqa: S608 - our table name
                    f"SELECT id FROM {table} WHERE processed_at IS NULL AND team_id = %s "
                    "ORDER BY occurred_at, id LIMIT 500 FOR UPDATE SKIP LOCKED) RETURNING id",
                    [team.pk],
                )
                got = len(cursor.fetchall())
            if not got:
                break
            claimed += got
    elapsed = time.perf_counter() - start
    return (claimed / elapsed if elapsed else 0.0), claimed


def _webhooks(n, processes):
    team, channel = _team()
    run = f"{processes}p{int(time.time())}"
    stored = _store_backlog(channel, n, run)
    start = time.perf_counter()
    workers = _drainers(processes, team.pk)
    handled = [int((worker.communicate()[0] or "0").strip().splitlines()[-1]) for worker in workers]
    elapsed = time.perf_counter() - start
    events = WebhookEvent.objects.filter(team=team, dedup_key__startswith=f"line:bw-{run}-")
    lost = events.exclude(state="processed").count()
    messages = InboundMessage.objects.filter(team=team, external_id__startswith=f"bw{run}m")
    duplicates = messages.count() - messages.values("external_id").distinct().count()
    missing = stored - messages.values("external_id").distinct().count()
    yield figure(
        "webhook_events_per_second",
        stored / elapsed,
        "events/s",
        n=stored,
        processes=processes,
        seconds=round(elapsed, 1),
        claimed_by_process=handled,
        lost=lost + missing,
        duplicates=duplicates + (sum(handled) - stored),
    )
    rate, claimed = _raw_webhook_claim_rate(team, run)
    yield figure("webhook_claim_rows_per_second", rate, "rows/s", n=claimed, reference="raw_sql")


def _journey_steps(n, processes):
    from .models import Enrollment, EnrollmentStep

    team, journey, contacts, delay_id = engine_bench._setup(n)
    engine_bench._enroll(team, journey, contacts, delay_id, [timezone.now()] * n)
    start = time.perf_counter()
    for worker in engine_bench._workers(processes, "--exit-when-idle"):
        worker.wait()
    elapsed = time.perf_counter() - start
    steps = EnrollmentStep.objects.filter(team=team, version=journey.current_version)
    total = steps.count()
    repeated = (
        steps.values("enrollment_id", "node")
        .annotate(k=Count("id"))
        .filter(k__gt=1)
        .aggregate(x=Count("enrollment_id"))
    )["x"]
    lost = Enrollment.objects.filter(journey=journey).exclude(state="completed").count()
    yield figure(
        "journey_steps_per_second",
        total / elapsed,
        "steps/s",
        n=total,
        processes=processes,
        enrollments=n,
        seconds=round(elapsed, 1),
        lost=lost,
        duplicates=repeated,
    )
    rate, claimed = engine_bench._raw_claim_rate(journey)
    yield figure("enrollment_claim_rows_per_second", rate, "rows/s", n=claimed, reference="raw_sql")


@benchmark(
    "workers_scale",
    help="100k webhook events, then 100k journey steps, drained by 1, 2 and 4 worker processes",
    requires_postgres=True,
)
def workers_scale(scale=1.0):
    n = max(1000, int(100_000 * scale))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    for processes in PROCESSES:
        yield from _webhooks(n, processes)
    # The journey benchmark counts steps: 3 per enrollment (split, tag, message).
    enrollments = max(400, n // 3)
    for processes in PROCESSES:
        yield from _journey_steps(enrollments, processes)
