"""Messaging benchmarks: signed LINE webhook intake and draining a backlog of stored events.

Both run in-process (Django's test client for the webhook: the full view, signature check, one bulk INSERT
and one django-q2 enqueue per request; no gunicorn / network in the loop), with a raw-SQL reference beside.
"""

import json
import time
import uuid

from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.benchmarks import Timer, benchmark, figure
from accounts.models import Team
from cdp.models import Channel, Contact

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
