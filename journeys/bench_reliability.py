"""`bench reliability` (issue 23.1 and 23.2): no accepted trigger lost when workers die, and no team stalled by
another team's import. PostgreSQL, with Redis as the django-q2 broker, both clusters as deployed.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/h_bench_rel python manage.py bench reliability [--scale 0.3]

Every process the benchmark starts (qclusters, gunicorn, the producers in journeys/bench_child.py) gets REDIS_URL
(the environment's, else redis://127.0.0.1:6379/0) and a queue name of its own, Q_NAME=relbench<pid>, so nothing
else's queue interferes; the per-minute Schedules are re-pointed at this run's clusters first.

1. triggers_lost_after_kills: a journey with a system trigger; 5,000 × scale accepted triggers posted through the
   events API service in batches of 100 while the realtime qcluster (2 workers) is SIGKILLed, process group and
   all, and restarted: after 4 random batches of the burst and once at a random moment within 1 s after it.
   When the workers stop making progress (8 s), the backstop runs (the task the per-minute Schedule runs).
   Lost = accepted triggers with no enrollment, duplicates = enrollments beyond one per trigger: both must be 0
   (the command fails otherwise).
2. other_team_inbound_lag_during_import: team A imports 200,000 × scale CSV rows (started through
   cdp.imports.start, run by the heavy cluster's qcluster; --scale 3 is the issue's 600,000 rows, ~3 times
   longer) while team B receives signed LINE webhooks (one event per request) at 20 events/s through gunicorn.
   Team B's ingest-to-processed lag p50/p95/max (target p95 ≤ 2 s), beside the same stream with no import
   running; then the hand-off rows the import left and how long each consumer took to catch up.
"""

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid

from django.core.management.base import CommandError
from django.test import override_settings

from accounts.models import Handoff, Team
from accounts.services import create_team
from cdp.bench_console import _csv
from cdp.models import Channel, Contact, CustomAttribute, Customer, EventReceipt, ImportJob, ImportStatus
from core.benchmarks import analyze_if_no_autovacuum, benchmark, figure
from messaging.bench import (
    SECRET,
    _channel,
    _events,
    _free_port,
    _lag_figures,
    _open_loop,
    _root,
    _server_env,
    _stamps,
    _start_gunicorn,
    _wait_processed,
)
from messaging.models import WebhookEvent
from messaging.services.ingest import line_signature

KILLS = 5
BATCH = 100
TRIGGER = "burst"
JOURNEYS = "journeys.tasks.on_customer_events"
ANALYTICS = "analytics.tasks.on_customer_events"
EVENTS_PER_S = 20
PROGRESS_STALL_S = 8.0  # the workers made no progress for this long: the rest is the backstop's


@benchmark(
    "reliability",
    help="accepted triggers lost after worker kills (must be 0); team B's inbound lag during team A's import",
    requires_postgres=True,
)
def reliability(scale=1.0):
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    if not _redis_up(redis_url):
        print(f"reliability: skipped (needs Redis at {redis_url})", file=sys.stderr)
        return
    queue = f"relbench{os.getpid()}"
    env = _env(redis_url, queue)
    _point_schedules_at(queue)
    _forget_earlier_runs()
    failures = []
    try:
        for fig in _triggers_under_kills(scale, env):
            if fig["figure"] in ("triggers_lost_after_kills", "duplicate_enrollments") and fig["value"]:
                failures.append(f"{fig['figure']} = {fig['value']}")
            yield fig
        yield from _inbound_lag_during_import(scale, env)
    finally:
        _forget_queue(redis_url, queue)
    if failures:
        raise CommandError("reliability: " + ", ".join(failures) + " (must be 0)")


# ----------------------------------------------------------------------------------------------- environment
def _redis_up(url):
    try:
        import redis

        return redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception:  # noqa: BLE001 - any failure means no Redis to run against
        return False


def _env(redis_url, queue):
    return _server_env(REDIS_URL=redis_url, Q_NAME=queue, Q_WORKERS="2")


def _point_schedules_at(queue):
    """The Schedules carry the heavy cluster's name as it was at migrate time; name this run's instead (what a
    deployment's migrate does with its Q_NAME), or the heavy cluster would never run its backstops."""
    from django.core.management.sql import emit_post_migrate_signal

    with override_settings(Q_HEAVY_CLUSTER=f"{queue}-heavy"):
        emit_post_migrate_signal(verbosity=0, interactive=False, db="default")


def _forget_queue(redis_url, queue):
    """Drop this run's Redis keys (its queues and stats): a unique name per run would otherwise pile up."""
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"*{queue}*", count=1000))
    if keys:
        client.delete(*keys)


def _forget_earlier_runs():
    """Hand-off rows an earlier run's teams left (its window closed before they drained) would occupy this run's
    heavy cluster, and the import would wait behind them."""
    Handoff.objects.filter(team__in=Team.objects.filter(slug__startswith="bench-rel-")).delete()


def _qcluster(env, heavy=False):
    if heavy:
        env = {**env, "Q_CLUSTER_NAME": f"{env['Q_NAME']}-heavy"}
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=_root(),
        env=env,
        start_new_session=True,  # its own process group: a kill takes its workers with it, like a machine dying
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _child(env, *args, **popen):
    return subprocess.Popen(
        [sys.executable, "-m", "journeys.bench_child", *map(str, args)],
        cwd=_root(),
        env=env,
        start_new_session=True,
        **popen,
    )


def _run_child(env, *args):
    process = _child(env, *args, stdout=subprocess.PIPE, text=True)
    try:
        out, _ = process.communicate(timeout=600)
    finally:
        _stop_all(process)
    if process.returncode:
        raise RuntimeError(f"journeys.bench_child {args[0]} exited with {process.returncode}")
    return out


def _kill(process):
    """SIGKILL the process group: the qcluster and its workers die mid-task, wherever they are."""
    _signal_group(process, signal.SIGKILL)
    process.wait(timeout=30)


def _stop_all(*processes, grace=10.0):
    """SIGTERM every process group at once, SIGKILL what is left after `grace` s (a qcluster's graceful stop
    would wait out a drain lingering under traffic; everything here is durable, so a kill costs nothing)."""
    groups = [process for process in processes if process is not None]
    for process in groups:
        _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in groups:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for process in groups:
        _signal_group(process, signal.SIGKILL)  # its workers too, even when the leader is gone
        process.wait()


def _signal_group(process, sig):
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


# ------------------------------------------------------------------------------------- 1. triggers and kills
def _trigger_setup(n):
    """A team with n LINE contacts and a live journey on the system trigger (waiting an hour once enrolled)."""
    from . import graph as g
    from .models import Journey, JourneyChannel
    from .services import publish

    team = create_team(slug=f"bench-rel-{uuid.uuid4().hex[:8]}", name="Bench reliability", contact_quota=10 * n)
    channel = Channel.objects.create(team=team, kind="line", name="LINE", external_id=f"bench-{team.slug}")
    customers = Customer.objects.bulk_create([Customer(team=team, name=f"R{i}") for i in range(n)], batch_size=5000)
    Contact.objects.bulk_create(
        [
            Contact(team=team, channel=channel, customer=customer, external_id=f"{TRIGGER}{i:06d}")
            for i, customer in enumerate(customers)
        ],
        batch_size=5000,
    )
    journey = Journey.objects.create(
        team=team,
        name="Bench reliability",
        trigger_type="system",
        trigger_config={"name": TRIGGER},
        draft_graph={"nodes": [{"id": g.new_node_id(), "type": "delay", "config": {"hours": 1}}]},
    )
    JourneyChannel.objects.create(team=team, journey=journey, channel=channel)
    publish(journey)
    return team, channel, journey


def _enrolled(journey):
    from .models import Enrollment

    return Enrollment.objects.filter(journey=journey).count()


def _pending(team, consumer):
    return Handoff.objects.filter(team=team, consumer=consumer).count()


def _triggers_under_kills(scale, env):
    n = max(2, int(5000 * scale) // BATCH) * BATCH
    team, channel, journey = _trigger_setup(n)
    _analyze()
    rng = random.Random()
    seed = rng.randrange(10**6)
    rng.seed(seed)
    worker = producer = None
    kills = kills_during_burst = 0
    try:
        worker = _qcluster(env)
        started = time.monotonic()
        producer = _child(
            env, "triggers", team.pk, channel.pk, TRIGGER, n // BATCH, BATCH, stdout=subprocess.PIPE, text=True
        )
        # KILLS - 1 kills at random batches of the burst, one at a random moment just after it (the hints already
        # taken from Redis die with that worker: what it held is the backstop's).
        batches = n // BATCH
        kill_after = sorted(rng.sample(range(1, batches), min(KILLS - 1, batches - 1)))
        accepted = 0
        for done, line in enumerate(producer.stdout, start=1):
            accepted += int(line.split()[0])
            while kill_after and done >= kill_after[0]:
                kill_after.pop(0)
                _kill(worker)
                kills += 1
                kills_during_burst += 1
                worker = _qcluster(env)
        producer.wait(timeout=60)
        burst_seconds = time.monotonic() - started
        time.sleep(rng.uniform(0.0, 1.0))
        _kill(worker)
        kills += 1
        worker = _qcluster(env)
        # The restarted workers carry on from the hints still queued; what the killed ones held is for the backstop.
        done_at, enrolled_by_workers = _wait_for(lambda: _enrolled(journey), n, started, PROGRESS_STALL_S)
        backstop_rows = _pending(team, JOURNEYS)
        if done_at is None:
            _run_child(env, "drain", JOURNEYS)
            done_at, _ = _wait_for(lambda: _enrolled(journey), n, started, PROGRESS_STALL_S)
    finally:
        _stop_all(producer, worker)
    lost, duplicates = _lost_and_duplicates(team, journey)
    shape = {"kills": kills, "kills_during_burst": kills_during_burst, "seed": seed, "accepted": accepted}
    yield figure("triggers_lost_after_kills", lost, "triggers", n=n, must_be=0, **shape)
    yield figure("duplicate_enrollments", duplicates, "enrollments", n=n, must_be=0)
    yield figure(
        "seconds_until_all_enrolled",
        done_at if done_at is not None else float("nan"),
        "s",
        n=n,
        enrolled_before_backstop=enrolled_by_workers,
        handoff_rows_for_backstop=backstop_rows,
        burst_seconds=round(burst_seconds, 1),
    )
    _cleanup_triggers(team)


def _wait_for(count, target, started, stall):
    """Poll `count()` until it reaches `target` (→ seconds since `started`) or stops moving for `stall` s (→ None).
    Returns (seconds or None, last count)."""
    last, moved = -1, time.monotonic()
    while True:
        value = count()
        now = time.monotonic()
        if value >= target:
            return now - started, value
        if value != last:
            last, moved = value, now
        elif now - moved > stall:
            return None, value
        time.sleep(0.25)


def _lost_and_duplicates(team, journey):
    """Accepted triggers (their receipts) whose customer has no enrollment; enrollments beyond one per customer."""
    from django.db.models import Count

    from .models import Enrollment

    accepted = {
        f"{TRIGGER}{int(event_id.rsplit('-', 1)[1]):06d}"
        for event_id in EventReceipt.objects.filter(team=team).values_list("event_id", flat=True)
    }
    customers = set(Contact.objects.filter(team=team, external_id__in=accepted).values_list("customer_id", flat=True))
    per_customer = dict(
        Enrollment.objects.filter(journey=journey)
        .values("customer_id")
        .annotate(n=Count("id"))
        .values_list("customer_id", "n")
    )
    lost = len(customers - set(per_customer))
    duplicates = sum(n - 1 for n in per_customer.values())
    return lost, duplicates


def _cleanup_triggers(team):
    """The analytics rows of the burst (no heavy cluster ran in this part) must not weigh on part 2."""
    Handoff.objects.filter(team=team).delete()


# --------------------------------------------------------------------------------- 2. import beside inbound
def _import_job(rows):
    from django.core.files.base import ContentFile

    team = create_team(slug=f"bench-rel-a-{uuid.uuid4().hex[:8]}", name="Bench import A", contact_quota=10 * rows)
    channel = Channel.objects.create(team=team, kind="line", name="LINE", external_id=f"bench-{team.slug}")
    CustomAttribute.objects.create(team=team, key="level", label="等級", type="number")
    job = ImportJob(team=team, channel=channel, original_name="bench.csv")
    job.file.save(f"bench/{uuid.uuid4().hex}.csv", ContentFile(_csv(rows).encode()), save=False)
    job.save()
    mapping = {
        "key_column": "uid",
        "key_kind": "external_id",
        "columns": {"name": "name", "email": "email", "tags": "tags", "level": "attr:level"},
    }
    return team, job, mapping


def _signed_stream(count, users=200):
    """`count` signed requests of one LINE event each (LINE's usual delivery), from `users` users in turn."""
    out = []
    for event in _events(count, users, int(time.time() * 1000)):
        body = json.dumps({"destination": "Ubench", "events": [event]}).encode()
        out.append((body, line_signature(SECRET, body)))
    return out


def _stream(port, path, seconds):
    """Post at EVENTS_PER_S for `seconds` (open loop); returns the statuses."""
    requests = _signed_stream(max(1, int(seconds * EVENTS_PER_S)))
    _, statuses = asyncio.run(_open_loop("127.0.0.1", port, path, requests, EVENTS_PER_S))
    return statuses


def _inbound_lag_during_import(scale, env):
    rows = max(5000, int(200_000 * scale))
    reference_seconds = max(5.0, 20.0 * scale)
    team_a, job, mapping = _import_job(rows)
    team_b, channel_b = _channel(f"bench-rel-b-{uuid.uuid4().hex[:8]}")
    _analyze()
    path = f"/webhooks/line/{channel_b.pk}/"
    port = _free_port()
    server = realtime = heavy = None
    try:
        server = _start_gunicorn(port, args=["--worker-class", "gthread", "--threads", "4"], env=env)
        realtime, heavy = _qcluster(env), _qcluster(env, heavy=True)
        # Warm-up: workers up, team B's contacts exist, gunicorn's workers have the channel cached.
        statuses = _stream(port, path, 10)
        assert set(statuses) == {200}, set(statuses)
        assert _wait_processed(team_b, 120) == 0, "the realtime cluster did not process the warm-up events"

        # Reference: the same stream with no import running.
        WebhookEvent.objects.filter(team=team_b).delete()
        statuses = _stream(port, path, reference_seconds)
        assert set(statuses) == {200}, set(statuses)
        pending = _wait_processed(team_b, 60)
        shape = {"events_per_s": EVENTS_PER_S, "events_per_request": 1}
        yield from _lag_figures([lag for _, lag, _ in _stamps(team_b)], pending, reference="no_import", **shape)

        # Team A's import in the heavy cluster, team B's stream beside it until the import is done.
        WebhookEvent.objects.filter(team=team_b).delete()
        requested = time.time()
        _run_child(env, "start_import", job.pk, json.dumps(mapping))
        started = time.monotonic()
        deadline = started + max(120.0, 1200.0 * scale)
        queued = []  # the realtime cluster's Redis queue length after each 5 s of the stream
        while time.monotonic() < deadline:
            statuses = _stream(port, path, 5)
            assert set(statuses) == {200}, set(statuses)
            queued.append(_queue_length(env))
            job.refresh_from_db()
            if job.status not in (ImportStatus.PENDING, ImportStatus.RUNNING):
                break
        import_seconds = time.monotonic() - started
        left = {consumer: _handoff_backlog(team_a, consumer) for consumer in (JOURNEYS, ANALYTICS)}
        pending = _wait_processed(team_b, 60)
        lags = [lag for _, lag, _ in _stamps(team_b)]
        yield from _lag_figures(lags, pending, during="import", import_rows=rows, **shape)
        ran = (job.finished_at - job.started_at).total_seconds() if job.finished_at and job.started_at else None
        yield figure(
            "import_rows_per_s",
            job.applied_rows / (ran or import_seconds),
            "rows/s",
            n=rows,
            status=job.status,
            seconds=round(import_seconds, 1),
            applied=job.applied_rows,
            queued_s=round(job.started_at.timestamp() - requested, 1) if job.started_at else None,
        )
        yield figure(
            "realtime_queue_length_max",
            max(queued),
            "tasks",
            n=len(queued),
            last=queued[-1],
            note="queued in Redis for the realtime cluster, sampled every 5 s of the stream",
        )
        for consumer, (count, events, age) in left.items():
            yield figure(
                "handoff_rows_left_by_import", count, "rows", n=rows, consumer=consumer, event_ids=events, oldest_s=age
            )
        # Catch-up: the heavy cluster is free of the import now. A window, not a wait for the end: the age of each
        # consumer's oldest row of team A every 5 s, and the rate at which its rows go.
        _analyze()  # what autovacuum would have done during the import (this server runs without it)
        window = max(30.0, 60.0 * scale)
        caught_up, ages, left_after = _catch_up(team_a, (JOURNEYS, ANALYTICS), window)
        for consumer in (JOURNEYS, ANALYTICS):
            rows_before, rows_after = left[consumer][0], left_after[consumer]
            seconds = caught_up.get(consumer)
            yield figure(
                "seconds_until_caught_up",
                seconds if seconds is not None else float("nan"),
                "s",
                n=rows,
                consumer=consumer,
                after="import_done",
                window_s=window,
                rows_left=rows_after,
                rows_per_s=round((rows_before - rows_after) / (seconds or window), 2),
                oldest_row_age_every_5s=ages[consumer],
            )
    finally:
        _stop_all(server, realtime, heavy)
        job.file.delete(save=False)
        _forget_earlier_runs()
    WebhookEvent.objects.filter(team=team_b).delete()
    ImportJob.objects.filter(pk=job.pk).delete()


def _queue_length(env):
    import redis

    return redis.Redis.from_url(env["REDIS_URL"]).llen(f"django_q:{env['Q_NAME']}:q")


def _handoff_backlog(team, consumer):
    """(rows, event ids in them, age in s of the oldest) of a consumer's pending rows for the team."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), coalesce(sum(jsonb_array_length(payload)), 0),"
            " coalesce(EXTRACT(EPOCH FROM now() - min(created_at)), 0)"
            " FROM accounts_handoff WHERE team_id = %s AND consumer = %s",
            [team.pk, consumer],
        )
        count, events, age = cursor.fetchone()
    return count, int(events), round(float(age), 1)


def _catch_up(team, consumers, window):
    """Seconds until each consumer has no row of `team` left (missing: not within `window`), the age of its
    oldest row every 5 s meanwhile, and the rows left at the end."""
    started = time.monotonic()
    done, ages, left = {}, {consumer: [] for consumer in consumers}, {}
    sample = 0.0
    while True:
        elapsed = time.monotonic() - started
        for consumer in consumers:
            count, _, age = _handoff_backlog(team, consumer)
            left[consumer] = count
            if not count:
                done.setdefault(consumer, elapsed)
            if elapsed >= sample:
                ages[consumer].append(age)
        sample += 5.0 if elapsed >= sample else 0.0
        if len(done) == len(consumers) or elapsed > window:
            return done, ages, left
        time.sleep(0.5)


def _analyze():
    """ANALYZE the tables the benchmark grows when the server runs without autovacuum (this machine's does):
    before ANALYZE, one analytics hand-off of 6,667 events took 42 s here, after it 0.9 s."""
    from django.apps import apps

    models = ["accounts.Handoff", "cdp.Customer", "cdp.Contact", "cdp.CustomerEvent", "cdp.EventReceipt"]
    models += ["messaging.WebhookEvent", "journeys.Enrollment"]
    analyze_if_no_autovacuum(*(apps.get_model(name)._meta.db_table for name in models))
