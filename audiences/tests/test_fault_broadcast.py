"""Fault test (issue 23): a LINE broadcast sent by a real worker (`manage.py qcluster` on Redis) that is killed
with SIGKILL three times mid-send and restarted. Deliveries are counted where they land, at a fake LINE server on
127.0.0.1: every recipient gets exactly one message. The rows carry the work: the broadcast sweep and the outbox
backstop (expired claims re-queued, re-sent with the same X-Line-Retry-Key) finish what the dead workers left."""

import os
import random
import threading
import time
from collections import Counter, defaultdict

import pytest
from django.conf import settings

from audiences import services
from audiences.models import BroadcastRecipient, BroadcastStatus, RecipientState
from audiences.tests.factories import AudiencePackFactory, BroadcastFactory
from cdp.tests.factories import ChannelFactory, bulk_contacts
from messaging.models import ChatbotModule, OutboundMessage
from messaging.tests.fake_platform import FakePlatform
from tests.qcluster import Worker, needs_redis, send_hints_to, wait_until

RECIPIENTS = 300
KILLS = 3
CLAIM_SECONDS = 3  # the outbox lease: a dead worker's claimed rows go back to the queue after this
BACKSTOPS = ("audiences.tasks.sweep_broadcasts", "messaging.tasks.dispatch_outbox")

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL (several processes, skip_locked claims)"),
    needs_redis,
    pytest.mark.django_db(transaction=True),
]


class Held:
    """LINE's answer to the n-th accepted push (n in `thresholds`) is held until the test has killed the worker:
    the message reached the customer, the worker never learnt it. Its row must be re-sent with the same retry
    key, which LINE refuses as a repeat (409), never delivered twice."""

    def __init__(self, fake, thresholds):
        self.fake, self.thresholds, self.accepted = fake, list(thresholds), 0
        self.holding, self.released = threading.Event(), threading.Event()

    def line_push(self, request):
        answer = self.fake.line_push(request)
        if answer[0] == 200:
            self.accepted += 1
            if self.thresholds and self.accepted == self.thresholds[0]:
                self.thresholds.pop(0)
                self.holding.set()
                self.released.wait(timeout=60)
                self.released.clear()
        return answer


def test_a_line_broadcast_killed_three_times_reaches_every_recipient_exactly_once(
    team, monkeypatch, tmp_path, settings
):
    rng = random.Random(23)
    with FakePlatform() as fake:
        held = Held(fake, sorted(rng.sample(range(1, RECIPIENTS - 30), KILLS)))  # random points, seeded
        fake.route("POST", "/v2/bot/message/push", held.line_push)
        settings.MESSAGING_LINE_API_BASE = fake.url  # nothing in this process sends; never the real LINE
        line = ChannelFactory(team=team, kind="line", credentials={"access_token": "T", "channel_secret": "s"})
        contacts = bulk_contacts(line, [f"U{i:032x}" for i in range(RECIPIENTS)])
        # A module: pushed one by one (plain text would go out as one multicast per 500 recipients).
        module = ChatbotModule.objects.create(team=team, name="sale", type="text_buttons", content={"text": "週末特賣"})
        broadcast = BroadcastFactory(
            team=team,
            pack=AudiencePackFactory(team=team, channel=line),
            channel=line,
            content={"type": "module", "module_id": module.pk},
        )
        worker = Worker(
            f"fault-broadcast-{os.getpid()}",
            log=tmp_path / "worker.log",
            MESSAGING_LINE_API_BASE=fake.url,
            MESSAGING_CLAIM_SECONDS=CLAIM_SECONDS,
        )
        send_hints_to(worker.queue, monkeypatch)  # this process is the console: send_now's hint goes to the worker

        def backstops():
            for func in BACKSTOPS:
                worker.fire(func)

        def delivered():
            return len(fake.delivered())

        try:
            worker.start()
            services.send_now(broadcast)
            for _kill in range(KILLS):
                reached = wait_until(held.holding.is_set, timeout=25, tick=backstops)
                assert reached, f"{delivered()} deliveries, waiting for {held.thresholds[0]} (see {worker.log})"
                held.holding.clear()
                time.sleep(rng.uniform(0, 0.05))  # the other worker process goes on meanwhile, wherever it is
                worker.restart()
                held.released.set()
            # The Schedules (every minute; here every second) find what the dead workers left, once claims expire.
            done = wait_until(
                lambda: not OutboundMessage.objects.exclude(status="sent").exists() and delivered() >= RECIPIENTS,
                timeout=25,
                tick=backstops,
            )
            assert done, f"{delivered()} deliveries (see {worker.log})"
        finally:
            held.released.set()
            worker.cleanup()

    assert worker.kills == KILLS
    accepted = Counter(request["json"]["to"] for request in fake.delivered())
    assert accepted == {contact.external_id: 1 for contact in contacts}  # exactly one message each, none lost
    keys = defaultdict(set)  # every request for a recipient, accepted or refused as a repeat, carried one key
    pushes = [request for request in fake.requests if request["path"] == "/v2/bot/message/push"]  # not quota reads
    for request in pushes:
        keys[request["json"]["to"]].add(request["headers"]["x-line-retry-key"])
        assert request["headers"]["authorization"] == "Bearer T"
    messages = OutboundMessage.objects.filter(team=team, origin="broadcast", origin_id=broadcast.pk)
    rows = {str(key): external_id for key, external_id in messages.values_list("retry_key", "contact__external_id")}
    assert {to: sorted(k) for to, k in keys.items()} == {to: [key] for key, to in rows.items()}
    # The kills landed mid-send: rows claimed by a dead worker were re-claimed after their lease expired, and
    # each held message was sent again and refused by LINE as a repeat.
    assert messages.filter(attempts__gt=1).count() >= KILLS
    assert Counter(request["status"] for request in pushes)[409] >= KILLS

    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.SENT and broadcast.recipient_count == RECIPIENTS
    assert BroadcastRecipient.objects.filter(broadcast=broadcast, state=RecipientState.ENQUEUED).count() == RECIPIENTS
    summary = services.report(broadcast)
    assert (summary["snapshot"], summary["recipients"], summary["messages"]) == (RECIPIENTS,) * 3
    assert (summary["sent"], summary["failed"], summary["skipped"]) == (RECIPIENTS, 0, {})
    assert summary["cost"] == team.line_message_cost * RECIPIENTS
