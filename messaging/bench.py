"""Messaging benchmarks: signed LINE webhook intake, forged webhooks, and draining a backlog of stored events.

Both run in-process (Django's test client for the webhook: the full view, signature check, one bulk INSERT
and one django-q2 enqueue per request; no gunicorn / network in the loop), with a raw-SQL reference beside.
"""

import hmac
import json
import logging
import time
import uuid

from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Team
from cdp.models import Channel, Contact
from core.benchmarks import Timer, benchmark, figure

from .models import InboundMessage, WebhookEvent
from .services.ingest import line_signature
from .services.processing import drain

SECRET = "bench-secret"


def _channel(slug):
    team = Team.objects.filter(slug=slug).first() or Team.objects.create(slug=slug, name=slug)
    channel = Channel.objects.filter(team=team, kind="line").first()
    if channel is None:
        channel = Channel.objects.create(team=team, kind="line", name="bench", credentials={"channel_secret": SECRET})
    return team, channel


def _events(n, users, base_ms):
    return [
        {
            "type": "message",
            "mode": "active",
            "timestamp": base_ms + i,
            "source": {"type": "user", "userId": f"U{(i % users):032x}"},
            "webhookEventId": uuid.uuid4().hex.upper()[:26],
            "deliveryContext": {"isRedelivery": False},
            "replyToken": "x",
            "message": {"type": "text", "id": str(10**12 + i), "text": f"hello {i}", "quoteToken": "q"},
        }
        for i in range(n)
    ]


@benchmark("line_webhook_ingest", help="signed LINE webhook requests of 10 events: accepted events/s, ack p99")
def line_webhook_ingest(scale=1.0):
    requests = max(50, int(500 * scale))
    team, channel = _channel("bench-line-ingest")
    client = Client(HTTP_HOST="127.0.0.1")
    url = f"/webhooks/line/{channel.pk}/"
    base = int(time.time() * 1000)
    bodies = []
    for r in range(requests):
        body = json.dumps({"destination": "Ubench", "events": _events(10, 1000, base + r * 10)}).encode()
        bodies.append((body, line_signature(SECRET, body)))
    client.post(url, data=bodies[0][0], content_type="application/json", headers={"X-Line-Signature": bodies[0][1]})
    timer = Timer()
    start = time.perf_counter()
    for body, sig in bodies[1:]:
        with timer:
            response = client.post(url, data=body, content_type="application/json", headers={"X-Line-Signature": sig})
        assert response.status_code == 200, response.status_code
    elapsed = time.perf_counter() - start
    n_events = 10 * (requests - 1)
    yield figure("accepted_events_per_s", n_events / elapsed, "events/s", n=n_events)
    yield figure("ack_p50", timer.median * 1000, "ms", n=requests - 1)
    yield figure("ack_p99", timer.p(99) * 1000, "ms", n=requests - 1)
    # Reference: the same 10-row INSERT ... ON CONFLICT DO NOTHING per request, by hand.
    ref = Timer()
    now = timezone.now()
    start = time.perf_counter()
    with connection.cursor() as cursor:
        for r in range(requests - 1):
            rows = []
            params = []
            for e in _events(10, 1000, base + r * 10):
                rows.append("(%s, %s, %s, %s, %s, %s, %s, %s, NULL, '')")
                params += [
                    team.pk,
                    channel.pk,
                    "ref:" + e["webhookEventId"],
                    "message",
                    e["source"]["userId"],
                    now,
                    json.dumps(e),
                    now,
                ]
            with ref:
                cursor.execute(
                    "INSERT INTO messaging_webhookevent (team_id, channel_id, dedup_key, kind, user_key, occurred_at,"
                    " payload, received_at, processed_at, error) VALUES " + ",".join(rows) + " ON CONFLICT DO NOTHING",
                    params,
                )
    elapsed = time.perf_counter() - start
    yield figure("accepted_events_per_s", n_events / elapsed, "events/s", n=n_events, reference="raw_sql")
    yield figure("ack_p99", ref.p(99) * 1000, "ms", n=requests - 1, reference="raw_sql")
    WebhookEvent.objects.filter(team=team).delete()


def _forged(client, url, body, signature, requests):
    """(refused requests/s, database queries per request) for `requests` posts of a forged body."""
    logging.disable(logging.WARNING)  # the request path, not the log handler's I/O (two warnings per refusal)
    with CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        for _ in range(requests):
            response = client.post(
                url, data=body, content_type="application/json", headers={"X-Line-Signature": signature}
            )
            assert response.status_code in (401, 404), response.status_code
        elapsed = time.perf_counter() - start
    logging.disable(logging.NOTSET)
    return requests / elapsed, len(queries) / requests


@benchmark("forged_webhooks", help="forged LINE webhooks (bad signature, unknown channel): refused/s, DB queries each")
def forged_webhooks(scale=1.0):
    requests = max(200, int(5000 * scale))
    team, channel = _channel("bench-forged-webhooks")
    client = Client(HTTP_HOST="127.0.0.1")
    url = f"/webhooks/line/{channel.pk}/"
    verify = json.dumps({"destination": "Ubench", "events": []}).encode()
    response = client.post(
        url, data=verify, content_type="application/json", headers={"X-Line-Signature": line_signature(SECRET, verify)}
    )
    assert response.status_code == 200, response.status_code  # the platform's verify request: the cache is warm
    body = json.dumps({"destination": "Ubench", "events": _events(10, 10, int(time.time() * 1000))}).encode()
    forged = line_signature("not-the-secret", body)
    rate, queries = _forged(client, url, body, forged, requests)
    yield figure("refused_requests_per_s", rate, "requests/s", n=requests)
    yield figure("db_queries_per_forged_request", queries, "queries", n=requests)
    unknown = f"/webhooks/line/{channel.pk + 10**9}/"
    rate, queries = _forged(client, unknown, body, forged, requests)
    yield figure("refused_requests_per_s", rate, "requests/s", n=requests, target="unknown_channel")
    yield figure("db_queries_per_forged_request", queries, "queries", n=requests, target="unknown_channel")
    with override_settings(MESSAGING_WEBHOOK_CHANNEL_CACHE_SECONDS=0):  # what each forged request cost before
        rate, queries = _forged(client, url, body, forged, requests)
    yield figure("refused_requests_per_s", rate, "requests/s", n=requests, reference="uncached")
    yield figure("db_queries_per_forged_request", queries, "queries", n=requests, reference="uncached")
    # Reference: the bare check no forged request can avoid (HMAC-SHA256 over the body, constant-time compare).
    start = time.perf_counter()
    for _ in range(requests):
        hmac.compare_digest(line_signature(SECRET, body).encode(), forged.encode())
    yield figure(
        "refused_requests_per_s",
        requests / (time.perf_counter() - start),
        "requests/s",
        n=requests,
        reference="raw_hmac",
    )


@benchmark("line_webhook_process", help="one worker draining a backlog of stored LINE message events")
def line_webhook_process(scale=1.0):
    n = max(500, int(10000 * scale))
    users = max(50, n // 10)
    team, channel = _channel("bench-line-process")
    WebhookEvent.objects.filter(team=team).delete()
    InboundMessage.objects.filter(team=team).delete()
    base = int(time.time() * 1000)
    # Warm set: contacts exist (a backlog mostly concerns known contacts); the first batch creates the rest.
    rows = []
    for e in _events(n, users, base):
        rows.append(
            WebhookEvent(
                team=team,
                channel=channel,
                dedup_key=f"line:{e['webhookEventId']}",
                kind="message",
                user_key=e["source"]["userId"],
                occurred_at=timezone.now(),
                payload=e,
            )
        )
    WebhookEvent.objects.bulk_create(rows, batch_size=2000)
    start = time.perf_counter()
    handled = drain(team_id=team.pk, batch_size=500)
    elapsed = time.perf_counter() - start
    assert handled == n, handled
    yield figure("processed_events_per_s", n / elapsed, "events/s", n=n, contacts=users)
    # Reference: the set-based SQL core of the same work (store messages, move interaction times, mark done).
    for e in rows:
        e.pk = None
        e.dedup_key = "ref-" + e.dedup_key
        e.processed_at = None
    WebhookEvent.objects.bulk_create(rows, batch_size=2000)
    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO messaging_inboundmessage (team_id, channel_id, contact_id, external_id, kind, text,"
            " occurred_at, created_at) SELECT e.team_id, e.channel_id, c.id, '', 'text', e.payload->'message'->>'text',"
            " e.occurred_at, now() FROM messaging_webhookevent e JOIN cdp_contact c ON c.channel_id = e.channel_id"
            " AND c.external_id = e.user_key WHERE e.team_id = %s AND e.processed_at IS NULL",
            [team.pk],
        )
        cursor.execute(
            "UPDATE cdp_contact c SET last_customer_interaction_at = m.at FROM (SELECT user_key, max(occurred_at) at"
            " FROM messaging_webhookevent WHERE team_id = %s AND processed_at IS NULL GROUP BY user_key) m"
            " WHERE c.channel_id = %s AND c.external_id = m.user_key",
            [team.pk, channel.pk],
        )
        cursor.execute(
            "UPDATE messaging_webhookevent SET processed_at = now() WHERE team_id = %s AND processed_at IS NULL",
            [team.pk],
        )
    elapsed = time.perf_counter() - start
    yield figure("processed_events_per_s", n / elapsed, "events/s", n=n, reference="raw_sql")
    assert Contact.objects.filter(team=team).count() == users


# ------------------------------------------------------------------------------ under gunicorn, over loopback
async def _post(host, port, path, body, signature):
    """One HTTP/1.1 POST on a fresh connection (gunicorn's sync workers close after each response)."""
    import asyncio

    reader, writer = await asyncio.open_connection(host, port)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"X-Line-Signature: {signature}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    writer.write(head + body)
    await writer.drain()
    status_line = await reader.readline()
    await reader.read()
    writer.close()
    return int(status_line.split()[1])


async def _closed_loop(host, port, path, requests, concurrency):
    """As fast as the server goes: `concurrency` clients in a loop. Returns (elapsed s, latencies, statuses)."""
    import asyncio

    queue = list(reversed(requests))
    latencies, statuses = [], []

    async def client():
        while queue:
            body, sig = queue.pop()
            t0 = time.perf_counter()
            statuses.append(await _post(host, port, path, body, sig))
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return time.perf_counter() - start, latencies, statuses


async def _open_loop(host, port, path, requests, rate, sent_at=None):
    """A fixed arrival rate (requests/s), whatever the answers' speed. Returns (latencies, statuses); fills
    `sent_at` (a list) with each request's wall-clock send time, in order, when given."""
    import asyncio

    latencies, statuses = [], []

    async def one(body, sig):
        if sent_at is not None:
            sent_at.append(time.time())
        t0 = time.perf_counter()
        statuses.append(await _post(host, port, path, body, sig))
        latencies.append(time.perf_counter() - t0)

    tasks = []
    start = time.perf_counter()
    for i, (body, sig) in enumerate(requests):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(body, sig)))
    await asyncio.gather(*tasks)
    return latencies, statuses


def _pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else 0.0


def _free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_env(**extra):
    """The environment of the app's own processes (gunicorn, qcluster): production settings on this database."""
    import os

    from django.conf import settings

    db = settings.DATABASES["default"]
    return {
        **os.environ,
        "DEBUG": "0",
        # This process's key: channel secrets it encrypted (a key derived from SECRET_KEY unless CHANNEL_SECRET_KEYS
        # is set) must decrypt in the servers, or every webhook answers 500.
        "SECRET_KEY": settings.SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "Q_SYNC": "0",
        **extra,
    }


def _root():
    from pathlib import Path

    return Path(__file__).resolve().parents[1]


def _start_gunicorn(port, workers=2, args=(), env=None):
    """`gunicorn config.wsgi -w <workers> <args>` on a loopback port (environment: `env`, else _server_env());
    returns once it accepts connections."""
    import os
    import socket
    import subprocess
    import sys
    from pathlib import Path

    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    server = subprocess.Popen(
        [gunicorn, "config.wsgi", "-w", str(workers), "-b", f"127.0.0.1:{port}", "--log-level", "warning"]
        + list(args)
        + os.environ.get("BENCH_GUNICORN_ARGS", "").split(),
        cwd=_root(),
        env=env or _server_env(),
        start_new_session=True,  # its own process group: _stop ends the workers with it
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    return server


def _stop(process):
    """Stop a server and every process it started: a qcluster worker left behind by a killed parent would go on
    draining every team's webhook queue, the next benchmark's included (the likely cause of a run in which
    line_webhook_process saw 6,000 of its 10,000 events)."""
    import os
    import signal
    import subprocess

    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:  # a stuck child must not outlive the benchmark
        process.kill()
        process.wait()
    try:
        os.killpg(process.pid, signal.SIGKILL)  # whatever of the group is still there
    except ProcessLookupError:
        return


@benchmark(
    "line_webhook_gunicorn",
    help="signed LINE webhooks of 10 events, gunicorn -w 2 sync and gthread: events/s, ack p99 at 150 req/s",
    requires_postgres=True,
)
def line_webhook_gunicorn(scale=1.0):
    """Starts `gunicorn config.wsgi -w 2` (DEBUG=0; sync workers, then gthread × 4) on a free loopback port against
    this database, then, for each:
    1) saturation: 16 concurrent clients post `n` requests → accepted events/s;
    2) 150 requests/s for ~10 s (open loop) → acknowledgement p50 / p99.
    The load generator (asyncio, raw HTTP, pre-signed bodies) shares the machine's cores with gunicorn and
    PostgreSQL, as the issue's setup does."""
    n = max(300, int(3000 * scale))
    rate_requests = max(300, int(1500 * scale))
    team, channel = _channel("bench-line-gunicorn")
    base = int(time.time() * 1000)
    for workers, args in GUNICORN_WORKERS:
        WebhookEvent.objects.filter(team=team).delete()
        yield from _gunicorn_run(team, channel, workers, args, n, rate_requests, base)
    # Reference: the same 10-row INSERT ... ON CONFLICT DO NOTHING per request over one connection (no HTTP).
    ref = Timer()
    now = timezone.now()
    start = time.perf_counter()
    with connection.cursor() as cursor:
        for r in range(n):
            rows, params = [], []
            for e in _events(10, 1000, base + r * 10):
                rows.append("(%s, %s, %s, %s, %s, %s, %s, %s, NULL, '')")
                params += [team.pk, channel.pk, "ref:" + e["webhookEventId"], "message"]
                params += [e["source"]["userId"], now, json.dumps(e), now]
            with ref:
                cursor.execute(
                    "INSERT INTO messaging_webhookevent (team_id, channel_id, dedup_key, kind, user_key, occurred_at,"
                    " payload, received_at, processed_at, error) VALUES " + ",".join(rows) + " ON CONFLICT DO NOTHING",
                    params,
                )
    elapsed = time.perf_counter() - start
    yield figure("accepted_events_per_s", 10 * n / elapsed, "events/s", n=10 * n, reference="raw_sql")
    yield figure("ack_p99", ref.p(99) * 1000, "ms", n=n, reference="raw_sql")
    WebhookEvent.objects.filter(team=team).delete()


# Sync workers (gunicorn's default) and threaded ones, as the README deploys them: a webhook request mostly waits
# on PostgreSQL, so threads are what lets two cores keep the acknowledgement p99 low.
GUNICORN_WORKERS = [("sync", []), ("gthread", ["--worker-class", "gthread", "--threads", "4"])]


def _gunicorn_run(team, channel, workers, args, n, rate_requests, base):
    import asyncio

    port = _free_port()
    server = _start_gunicorn(port, args=args)
    try:
        path = f"/webhooks/line/{channel.pk}/"

        def signed(count, offset):
            out = []
            for r in range(count):
                body = json.dumps(
                    {"destination": "Ubench", "events": _events(10, 1000, base + (offset + r) * 10)}
                ).encode()
                out.append((body, line_signature(SECRET, body)))
            return out

        warm = signed(40, 0)
        asyncio.run(_closed_loop("127.0.0.1", port, path, warm, 4))
        elapsed, latencies, statuses = asyncio.run(_closed_loop("127.0.0.1", port, path, signed(n, 40), 16))
        assert set(statuses) == {200}, set(statuses)
        yield figure(
            "accepted_events_per_s", 10 * n / elapsed, "events/s", n=10 * n, requests=n, concurrency=16, workers=workers
        )
        latencies, statuses = asyncio.run(_open_loop("127.0.0.1", port, path, signed(rate_requests, 40 + n), 150))
        assert set(statuses) == {200}, set(statuses)
        yield figure("ack_p50_at_150rps", _pct(latencies, 50) * 1000, "ms", n=rate_requests, workers=workers)
        yield figure("ack_p99_at_150rps", _pct(latencies, 99) * 1000, "ms", n=rate_requests, workers=workers)
        stored = WebhookEvent.objects.filter(team=team).count()
        assert stored == 10 * (40 + n + rate_requests), stored
    finally:
        _stop(server)


# ----------------------------------------------------------------- ingest-to-processed lag with a real worker
def _start_worker():
    """`manage.py qcluster` with ONE worker process (the broker configured for this database: ORM or Redis)."""
    import subprocess
    import sys

    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=_root(),
        env=_server_env(Q_WORKERS="1"),
        stdout=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: _stop ends the workers with it
    )


def _wait_processed(team, timeout):
    """Wait until every stored event of `team` is processed; returns the number still pending."""
    deadline = time.monotonic() + timeout
    while True:
        pending = WebhookEvent.objects.filter(team=team, processed_at__isnull=True).count()
        if not pending or time.monotonic() > deadline:
            return pending
        time.sleep(0.2)


def _lags(team, prefix=""):
    """processed − received (seconds) for each of the team's processed events."""
    return [lag for _, lag, _ in _stamps(team, prefix)]


def _stamps(team, prefix=""):
    """(dedup key, processed − received in s, processed_at as epoch s) of the team's processed events."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT dedup_key, EXTRACT(EPOCH FROM processed_at - received_at), EXTRACT(EPOCH FROM processed_at)"
            " FROM messaging_webhookevent WHERE team_id = %s AND processed_at IS NOT NULL AND dedup_key LIKE %s",
            [team.pk, prefix + "%"],
        )
        return [(key, float(lag), float(at)) for key, lag, at in cursor.fetchall()]


def _lag_figures(lags, pending, **extra):
    n = len(lags)
    yield figure("lag_p50", _pct(lags, 50), "s", n=n, **extra)
    yield figure("lag_p95", _pct(lags, 95), "s", n=n, unprocessed=pending, **extra)
    yield figure("lag_max", max(lags, default=0.0), "s", n=n, **extra)


def _reference_lag(team, channel, seconds, poll=0.1):
    """Raw SQL doing comparable work: a writer stores 10-event rows 10 times a second (one INSERT each, as a
    request does) while a poller runs the set-based processing SQL every `poll` s (the drain's idle poll).
    Returns the lags (processed − received) of the written rows and how many were left unprocessed."""
    import threading

    stop = threading.Event()
    base = int(time.time() * 1000)

    def writer():
        try:
            start = time.perf_counter()
            with connection.cursor() as cursor:
                for r in range(int(seconds * 10)):
                    delay = start + r / 10 - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    rows, params = [], []
                    for e in _events(10, 1000, base + r * 10):
                        rows.append("(%s, %s, %s, 'message', %s, clock_timestamp(), %s, clock_timestamp(), NULL, '')")
                        params += [team.pk, channel.pk, "ref:" + e["webhookEventId"], e["source"]["userId"]]
                        params.append(json.dumps(e))
                    cursor.execute(
                        "INSERT INTO messaging_webhookevent (team_id, channel_id, dedup_key, kind, user_key,"
                        " occurred_at, payload, received_at, processed_at, error) VALUES "
                        + ",".join(rows)
                        + " ON CONFLICT DO NOTHING",
                        params,
                    )
        finally:
            stop.set()
            connection.close()

    def poller():
        from django.db import transaction

        try:
            while True:
                done = stop.is_set()
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(
                        "CREATE TEMP TABLE IF NOT EXISTS ref_batch (id bigint, user_key text, occurred_at timestamptz,"
                        " text text) ON COMMIT DELETE ROWS"
                    )
                    cursor.execute(
                        "INSERT INTO ref_batch SELECT id, user_key, occurred_at, payload->'message'->>'text'"
                        " FROM messaging_webhookevent WHERE team_id = %s AND processed_at IS NULL"
                        " ORDER BY occurred_at, id LIMIT 500 FOR UPDATE SKIP LOCKED",
                        [team.pk],
                    )
                    cursor.execute(
                        "INSERT INTO messaging_inboundmessage (team_id, channel_id, contact_id, external_id, kind,"
                        " text, occurred_at, created_at) SELECT %s, %s, c.id, '', 'text', b.text, b.occurred_at,"
                        " now() FROM ref_batch b JOIN cdp_contact c"
                        " ON c.channel_id = %s AND c.external_id = b.user_key",
                        [team.pk, channel.pk, channel.pk],
                    )
                    cursor.execute(
                        "UPDATE cdp_contact c SET last_customer_interaction_at = m.at FROM (SELECT user_key,"
                        " max(occurred_at) at FROM ref_batch GROUP BY user_key) m WHERE c.channel_id = %s"
                        " AND c.external_id = m.user_key",
                        [channel.pk],
                    )
                    cursor.execute(
                        "UPDATE messaging_webhookevent e SET processed_at = clock_timestamp() FROM ref_batch b"
                        " WHERE e.id = b.id"
                    )
                    handled = cursor.rowcount
                if done and not handled:
                    return
                if not handled:
                    time.sleep(poll)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer), threading.Thread(target=poller)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pending = WebhookEvent.objects.filter(team=team, dedup_key__startswith="ref:", processed_at__isnull=True).count()
    return _lags(team, "ref:"), pending


@benchmark(
    "line_webhook_lag",
    help="ingest-to-processed lag at 100 events/s: gunicorn -w 2 + ONE qcluster worker, p50/p95/max",
    requires_postgres=True,
)
def line_webhook_lag(scale=1.0):
    """Starts gunicorn as the README deploys it (-w 2 --worker-class gthread --threads 4) and `manage.py
    qcluster` with one worker against this database, then posts signed LINE webhooks at a steady 100 events/s
    for ~30 s (open loop) in two shapes: 10 events per request at 10 requests/s, and 1 event per request at
    100 requests/s (LINE's usual delivery). lag = processed_at − received_at of each event (both stamped by the
    app, the issue's figure); e2e_lag = processed_at − the moment the load generator sent the request (adds
    the time a request waits for a free gunicorn thread). Queued tasks left in this database's ORM queue by
    earlier runs without a worker are dropped first: run benchmarks on a database of their own."""
    import asyncio

    from django.conf import settings
    from django_q.models import OrmQ

    seconds = max(5.0, 30.0 * scale)
    team, channel = _channel("bench-line-lag")
    WebhookEvent.objects.filter(team=team).delete()
    if "orm" in settings.Q_CLUSTER:
        OrmQ.objects.all().delete()
    broker = "redis" if "redis" in settings.Q_CLUSTER else "orm"
    port = _free_port()
    server = _start_gunicorn(port, args=["--worker-class", "gthread", "--threads", "4"])
    worker = _start_worker()
    path = f"/webhooks/line/{channel.pk}/"
    base = int(time.time() * 1000)

    def signed(count, per_request, offset):
        out, keys = [], {}
        for r in range(count):
            events = _events(per_request, 1000, base + (offset + r) * per_request)
            keys.update({f"line:{e['webhookEventId']}": r for e in events})
            body = json.dumps({"destination": "Ubench", "events": events}).encode()
            out.append((body, line_signature(SECRET, body)))
        return out, keys

    try:
        # Warm-up: the worker is up, contacts exist, gunicorn's workers have their channel cached.
        asyncio.run(_open_loop("127.0.0.1", port, path, signed(20, 50, 0)[0], 10))
        assert _wait_processed(team, 120) == 0, "the worker did not process the warm-up events"
        offset = 20
        for per_request in (10, 1):
            WebhookEvent.objects.filter(team=team).delete()
            rate = 100 / per_request
            requests, request_of = signed(int(seconds * rate), per_request, offset)
            offset += len(requests)
            sent_at = []
            latencies, statuses = asyncio.run(_open_loop("127.0.0.1", port, path, requests, rate, sent_at))
            assert set(statuses) == {200}, set(statuses)
            pending = _wait_processed(team, 60)
            stamps = _stamps(team)
            shape = {"events_per_request": per_request, "requests_per_s": rate, "broker": broker}
            yield from _lag_figures([lag for _, lag, _ in stamps], pending, **shape)
            e2e = [at - sent_at[request_of[key]] for key, _, at in stamps]
            yield figure("e2e_lag_p95", _pct(e2e, 95), "s", n=len(e2e), **shape)
            yield figure("ack_p99", _pct(latencies, 99) * 1000, "ms", n=len(latencies), **shape)
    finally:
        _stop(worker)
        _stop(server)
    WebhookEvent.objects.filter(team=team).delete()
    lags, pending = _reference_lag(team, channel, seconds)
    yield from _lag_figures(lags, pending, reference="raw_sql", events_per_request=10)
    WebhookEvent.objects.filter(team=team).delete()
