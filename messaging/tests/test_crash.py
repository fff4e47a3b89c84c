"""PostgreSQL-only: a real worker process killed mid-batch, and the one-statement webhook intake path."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from cdp.tests.factories import ChannelFactory, ContactFactory
from messaging.models import OutboundMessage, WebhookEvent
from messaging.services import channel_cache, outbox

from .fake_platform import FakePlatform
from .payloads import LINE_SECRET, line_body, line_text, post_line

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL (a second process, skip_locked claims)"),
    pytest.mark.django_db(transaction=True),
]


def test_worker_killed_mid_batch_every_message_reaches_line_exactly_once(team, tmp_path, monkeypatch, settings):
    monkeypatch.setattr(outbox, "_hint_dispatch", lambda: None)  # only the worker processes send
    with FakePlatform() as fake:
        settings.MESSAGING_LINE_API_BASE = fake.url  # for the second worker (this process)
        fake.route("POST", "/v2/bot/message/push", fake.line_push)
        line = ChannelFactory(team=team, kind="line", credentials={"access_token": "T", "channel_secret": "s"})
        contacts = [ContactFactory(channel=line, external_id=f"U{i:032x}") for i in range(30)]
        for i, contact in enumerate(contacts):
            outbox.enqueue(
                team=team,
                channel=line,
                contact=contact,
                content={"type": "text", "text": f"訂單 {i} 已出貨"},
                origin="agent",
                origin_id="",
                idempotency_key=f"crash:{i}",
            )
        marker = tmp_path / "marker"
        db = connection.settings_dict
        env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "MESSAGING_LINE_API_BASE": fake.url,
            "BATCH": "10",
            "CRASH_AT": "15",
            "Q_SYNC": "1",
            "PYTHONPATH": str(ROOT),
        }
        worker = subprocess.Popen(
            [sys.executable, "-m", "messaging.tests.crash_outbox_worker", str(marker)], cwd=ROOT, env=env
        )
        try:
            for _ in range(600):
                if marker.exists():
                    break
                time.sleep(0.1)
            assert marker.exists(), "the worker never reached its 15th provider call"
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
        finally:
            if worker.poll() is None:
                worker.kill()

        # The kill: batch 1 done; batch 2 has 4 recorded sends, 1 sent-but-unrecorded, 5 claimed-but-unsent.
        status = dict.fromkeys(("sent", "sending", "queued"), 0)
        for value in OutboundMessage.objects.values_list("status", flat=True):
            status[value] += 1
        assert status == {"sent": 14, "sending": 6, "queued": 10}
        assert len(fake.delivered()) == 15

        # The sweeper re-queues expired claims; a second worker sends the rest (same retry keys).
        later = timezone.now() + timedelta(seconds=settings.MESSAGING_CLAIM_SECONDS + 1)
        assert outbox.sweep(now=later) == 6
        assert outbox.dispatch(now=later) == 16
        assert set(OutboundMessage.objects.values_list("status", flat=True)) == {"sent"}
        delivered = [r["json"]["to"] for r in fake.delivered()]
        assert sorted(delivered) == sorted(c.external_id for c in contacts)  # each exactly once, none lost
        duplicates = [r for r in fake.requests if r["status"] == 409]
        assert len(duplicates) == 1  # the message sent just before the kill: LINE refused it by retry key
        keys = {r["headers"]["x-line-retry-key"] for r in fake.requests}
        assert keys == {str(k) for k in OutboundMessage.objects.values_list("retry_key", flat=True)}


def test_one_statement_intake_dedups_and_refuses_a_disabled_channel_even_when_cached(client, team):
    line = ChannelFactory(team=team, kind="line", credentials={"channel_secret": LINE_SECRET, "access_token": "t"})
    assert connection.get_autocommit()  # the PostgreSQL fast path (not the ORM fallback) is what runs here
    now_ms = int(timezone.now().timestamp() * 1000)
    body = line_body(line_text("hi", ts=now_ms, event_id="01A"), line_text("again", ts=now_ms + 1, event_id="01B"))
    assert post_line(client, line, body).status_code == 200
    assert post_line(client, line, body).status_code == 200  # redelivery
    events = WebhookEvent.objects.filter(channel=line).order_by("dedup_key")
    assert [e.dedup_key for e in events] == ["line:01A", "line:01B"]
    assert events[0].payload["message"]["text"] == "hi" and events[0].team_id == team.pk
    assert events[0].occurred_at.timestamp() * 1000 == pytest.approx(now_ms)
    assert all(e.processed_at is not None for e in events)  # the (synchronous) hint drained them
    # Disabled behind the cache's back (another process): nothing stored, 404.
    assert line.pk in channel_cache._entries
    type(line).objects.filter(pk=line.pk).update(status="disabled")
    other = line_body(line_text("late", ts=now_ms + 2, event_id="01C"))
    assert post_line(client, line, other).status_code == 404
    assert WebhookEvent.objects.filter(channel=line).count() == 2
    # A rotated secret is re-read once.
    type(line).objects.filter(pk=line.pk).update(status="active", credentials={"channel_secret": "new-secret"})
    assert post_line(client, line, other, secret="new-secret").status_code == 200
    assert WebhookEvent.objects.filter(channel=line).count() == 3
