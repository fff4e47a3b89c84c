"""Webhooks on a bad day (issue 23): events for a page that is not connected, absurd timestamps in genuine
(signed) requests, a database that fails under a batch, and one announcement of a batch's timeline events."""

import json
import logging
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import OperationalError, connection
from django.utils import timezone

from cdp import events as cdp_events
from cdp.models import Contact, CustomerEvent
from cdp.tests.factories import ChannelFactory
from messaging.models import InboundMessage, WebhookEvent, WebhookEventState
from messaging.services import ingest, processing
from tests.factories import TeamFactory

from .payloads import (
    LINE_SECRET,
    META_SECRET,
    line_body,
    line_event,
    line_text,
    meta_body,
    post_line,
    post_meta,
    wa_body,
    wa_change,
)

pytestmark = pytest.mark.django_db

PAGE_ID = "1234567890"
OTHER_PAGE_ID = "9999999999"
TS = 1700000000000


@pytest.fixture
def page(team):
    return ChannelFactory(team=team, kind="facebook", external_id=PAGE_ID, credentials={"app_secret": META_SECRET})


@pytest.fixture
def line(team):
    return ChannelFactory(team=team, kind="line", credentials={"channel_secret": LINE_SECRET})


def _ingest_warnings(caplog):
    return [r for r in caplog.records if r.name == ingest.logger.name and r.levelno == logging.WARNING]


def _processing_logs(caplog):
    return [r for r in caplog.records if r.name == processing.logger.name]


def _message(psid, mid, *, page_id=PAGE_ID, ts=TS):
    return {
        "sender": {"id": psid},
        "recipient": {"id": page_id},
        "timestamp": ts,
        "message": {"mid": mid, "text": "hello"},
    }


# ------------------------------------------------------------------------- 23.4: pages that are not connected
def test_meta_events_for_a_page_not_connected_are_rejected_not_stored_as_contacts(client, page, other_team, caplog):
    """Signed with the channel's app secret, but for another page: the events of that page are recorded as
    rejected on the receiving channel (seen in the admin), logged once for the request, and never contacts.
    The same page id connected in another team changes nothing."""
    ChannelFactory(team=other_team, kind="facebook", external_id=OTHER_PAGE_ID)
    body = json.dumps(
        {
            "object": "page",
            "entry": [
                {"id": OTHER_PAGE_ID, "time": TS, "messaging": [_message("111", "m_1", page_id=OTHER_PAGE_ID)]},
                {"id": OTHER_PAGE_ID, "time": TS, "messaging": [_message("222", "m_2", page_id=OTHER_PAGE_ID)]},
                {"id": PAGE_ID, "time": TS, "messaging": [_message("333", "m_3")]},
            ],
        }
    ).encode()
    caplog.set_level(logging.WARNING)
    assert post_meta(client, page, body).status_code == 200
    assert post_meta(client, page, body).status_code == 200  # redelivered: recorded once

    assert list(Contact.objects.values_list("channel_id", "external_id")) == [(page.pk, "333")]
    rejected = WebhookEvent.objects.filter(state=WebhookEventState.REJECTED).order_by("user_key")
    assert [(e.channel_id, e.team_id, e.user_key) for e in rejected] == [(page.pk, page.team_id, "111")] + [
        (page.pk, page.team_id, "222")
    ]
    assert {e.error for e in rejected} == {f"page {OTHER_PAGE_ID} is not connected to this team"}
    assert all(e.processed_at is not None for e in rejected)
    assert WebhookEvent.objects.get(user_key="333").state == WebhookEventState.PROCESSED
    warnings = _ingest_warnings(caplog)
    assert len(warnings) == 2  # one per request, not one per event
    assert "2 of 3 events rejected" in warnings[0].getMessage()
    assert OTHER_PAGE_ID in warnings[0].getMessage()


def test_a_meta_event_whose_recipient_is_another_page_is_rejected(client, page):
    body = meta_body("page", PAGE_ID, _message("111", "m_1", page_id=OTHER_PAGE_ID), _message("222", "m_2"))
    assert post_meta(client, page, body).status_code == 200
    assert list(Contact.objects.values_list("external_id", flat=True)) == ["222"]
    rejected = WebhookEvent.objects.get(state=WebhookEventState.REJECTED)
    assert rejected.user_key == "111" and rejected.error == f"recipient {OTHER_PAGE_ID} is not page {PAGE_ID}"


def test_instagram_events_for_an_account_not_connected_or_disabled_are_rejected(client, team):
    ig = ChannelFactory(
        team=team, kind="instagram", external_id="17841400000000", credentials={"app_secret": META_SECRET}
    )
    ChannelFactory(team=team, kind="instagram", external_id="17841400000001", status="disabled")
    for account in ("17841400000009", "17841400000001"):
        body = meta_body("instagram", account, _message("555", f"ig_{account}", page_id=account))
        assert post_meta(client, ig, body).status_code == 200
    assert not Contact.objects.exists()
    assert sorted(WebhookEvent.objects.values_list("state", "error")) == [
        ("rejected", "Instagram account 17841400000001 is not connected to this team"),
        ("rejected", "Instagram account 17841400000009 is not connected to this team"),
    ]


def test_whatsapp_events_for_a_phone_number_not_connected_are_recorded_as_rejected(client, team, caplog):
    wa = ChannelFactory(
        team=team, kind="whatsapp", external_id="106540352242922", credentials={"app_secret": META_SECRET}
    )
    message = {
        "from": "85291234567",
        "id": "wamid.X",
        "timestamp": "1700000000",
        "type": "text",
        "text": {"body": "hi"},
    }
    status = {"id": "wamid.Y", "status": "read", "timestamp": "1700000001", "recipient_id": "85291234567"}
    caplog.set_level(logging.WARNING)
    body = wa_body(wa_change("300000000000003", messages=[message], statuses=[status]))
    assert post_meta(client, wa, body, path="whatsapp").status_code == 200
    assert not Contact.objects.exists()
    rejected = WebhookEvent.objects.filter(state=WebhookEventState.REJECTED, channel=wa)
    assert sorted(rejected.values_list("kind", "error")) == [
        ("message", "phone number 300000000000003 is not connected to this team"),
        ("status", "phone number 300000000000003 is not connected to this team"),
    ]
    assert len(_ingest_warnings(caplog)) == 1


# ------------------------------------------------------------------------------- 23.5: absurd timestamps
ABSURD_LINE_TIMESTAMPS = [
    ("100000000000000000000", "1e+20' is not an integer"),  # 10^20: beyond 64 bits, JSON readers give a float
    ("1e20", "not an integer"),
    ("-5", "out of range"),
    ('"soon"', "not an integer"),
    ("true", "not an integer"),
    ("100000000000000", "out of range"),  # the year 5138
    ("null", "not an integer"),
]


def test_line_events_with_absurd_timestamps_are_their_own_error_and_the_request_answers_200(client, line, caplog):
    """LINE redelivers a request that does not answer 2xx: a genuine request must never get a 500 (it did: 10^20
    raised OSError), and its other events are stored and processed as usual."""
    good = json.dumps(line_text("still here", ts=TS, event_id="01GOOD"))
    bad = [
        json.dumps(line_event("follow", user=f"U{i:032d}", ts=0, event_id=f"01BAD{i}")).replace(
            '"timestamp": 0', f'"timestamp": {raw}'
        )
        for i, (raw, _) in enumerate(ABSURD_LINE_TIMESTAMPS)
    ]
    body = ('{"destination": "Ubot", "events": [' + ", ".join([*bad, good]) + "]}").encode()
    caplog.set_level(logging.WARNING)
    assert post_line(client, line, body).status_code == 200

    assert InboundMessage.objects.get().text == "still here"
    assert Contact.objects.count() == 1
    rejected = {e.dedup_key: e for e in WebhookEvent.objects.filter(state=WebhookEventState.REJECTED)}
    assert len(rejected) == len(ABSURD_LINE_TIMESTAMPS)
    for i, (_, reason) in enumerate(ABSURD_LINE_TIMESTAMPS):
        event = rejected[f"rejected:line:01BAD{i}"]
        assert reason in event.error and event.kind == "follow" and event.processed_at is not None
    warnings = _ingest_warnings(caplog)
    assert len(warnings) == 1 and f"{len(ABSURD_LINE_TIMESTAMPS)} of 8 events rejected" in warnings[0].getMessage()


def test_a_line_event_missing_its_timestamp_or_type_is_rejected_alone(client, line):
    body = json.dumps(
        {"events": [{"type": "message", "webhookEventId": "01A"}, {"timestamp": TS, "source": "nobody"}]}
    ).encode()
    assert post_line(client, line, body).status_code == 200
    assert sorted(WebhookEvent.objects.values_list("state", "kind", "error")) == [
        ("rejected", "message", "malformed event: 'timestamp' missing"),
        ("rejected", "unknown", "malformed event: 'str' object has no attribute 'get'"),
    ]


def test_meta_and_whatsapp_absurd_timestamps_are_that_events_error(client, page, team):
    body = meta_body(
        "page", PAGE_ID, _message("111", "m_1", ts=10**20), _message("222", "m_2", ts="x"), _message("333", "m_3")
    )
    assert post_meta(client, page, body).status_code == 200
    assert list(Contact.objects.values_list("external_id", flat=True)) == ["333"]
    assert WebhookEvent.objects.filter(state=WebhookEventState.REJECTED).count() == 2

    wa = ChannelFactory(
        team=team, kind="whatsapp", external_id="106540352242922", credentials={"app_secret": META_SECRET}
    )
    messages = [
        {"from": "85200000001", "id": "wamid.1", "timestamp": "100000000000000000000", "type": "text"},
        {"from": "85200000002", "id": "wamid.2", "timestamp": "-1", "type": "text"},
        {"from": "85200000003", "id": "wamid.3", "timestamp": "1700000000", "type": "text", "text": {"body": "ok"}},
    ]
    body = wa_body(wa_change("106540352242922", messages=messages))
    assert post_meta(client, wa, body, path="whatsapp").status_code == 200
    assert list(Contact.objects.filter(channel=wa).values_list("external_id", flat=True)) == ["+85200000003"]
    errors = dict(WebhookEvent.objects.filter(channel=wa).values_list("dedup_key", "error"))
    assert "out of range" in errors["rejected:wa:wamid.1"] and "not an integer" in errors["rejected:wa:wamid.2"]


@pytest.mark.postgres
@pytest.mark.skipif(not settings.IS_POSTGRES, reason="the one-statement intake path is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_the_one_statement_intake_stores_rejected_events_beside_accepted_ones(client, line):
    assert connection.get_autocommit()  # the PostgreSQL fast path (not the ORM fallback) is what runs here
    body = line_body(line_text("ok", ts=TS, event_id="01OK"), line_event("follow", ts=-1, event_id="01NO"))
    assert post_line(client, line, body).status_code == 200
    assert post_line(client, line, body).status_code == 200
    events = {e.dedup_key: e for e in WebhookEvent.objects.filter(channel=line)}
    assert set(events) == {"line:01OK", "rejected:line:01NO"}
    assert events["line:01OK"].state == "processed" and events["line:01OK"].error == ""
    rejected = events["rejected:line:01NO"]
    assert rejected.state == "rejected" and rejected.processed_at is not None and rejected.attempts == 0
    assert rejected.error == "malformed event: timestamp -1 is out of range"


def test_event_time_bounds():
    now = timezone.now()
    assert ingest.event_time(int(now.timestamp()) * 1000, 1000) <= now
    assert ingest.event_time("1700000000", 1) == ingest.event_time(1700000000000, 1000)
    ingest.event_time(int((now + timedelta(hours=23)).timestamp()), 1)  # a platform clock a little ahead
    for value in (int((now + timedelta(days=2)).timestamp()), 946684799, 10**400, 1.7e9, "1.7e9", " 17", None):
        with pytest.raises(ValueError):
            ingest.event_time(value, 1)


# --------------------------------------------------------------------- 23.7: a database that fails mid-batch
def _store_line_events(channel, users, *, ts=TS):
    ingest.store(
        [
            ingest._row(channel, f"line:{user}:{i}", "message", user, ingest.event_time(ts + i, 1000), line_text("x"))
            for i, user in enumerate(users)
        ],
        channel=channel,
    )


@pytest.fixture
def no_hint(monkeypatch):
    monkeypatch.setattr(ingest, "hint_processing", lambda: False)


def _failing_for(users, exc):
    original = processing.Batch.handle

    def handle(self, event):
        if event.user_key in users:
            raise exc
        return original(self, event)

    return handle


def test_groups_failing_for_a_transient_reason_stay_pending_and_one_line_is_logged(line, no_hint, monkeypatch, caplog):
    failing = {f"Ufail{i}" for i in range(20)}
    _store_line_events(line, ["Uok", *sorted(failing), "Uok"])
    monkeypatch.setattr(
        processing.Batch, "handle", _failing_for(failing, OperationalError("server closed the connection"))
    )
    caplog.set_level(logging.DEBUG)

    assert processing.process_batch() == 22

    failed = WebhookEvent.objects.filter(user_key__in=failing)
    assert failed.count() == 20
    assert all(e.processed_at is None and e.state == "pending" and e.attempts == 1 for e in failed)
    assert all(e.retry_at > timezone.now() and "OperationalError" in e.error for e in failed)
    assert WebhookEvent.objects.filter(user_key="Uok", state="processed").count() == 2
    logs = _processing_logs(caplog)
    assert len(logs) == 1 and logs[0].exc_info is None
    assert "20 of 21 contact groups failed (20 events to retry, 0 failed)" in logs[0].getMessage()
    assert "server closed the connection" in logs[0].getMessage()

    assert processing.process_batch() == 0  # backoff: not claimed again at once
    monkeypatch.undo()
    WebhookEvent.objects.filter(user_key__in=failing).update(retry_at=timezone.now())
    assert processing.process_batch() == 20
    assert not WebhookEvent.objects.exclude(state="processed").exists()
    assert Contact.objects.filter(channel=line).count() == 21


def test_groups_failing_on_their_data_are_marked_failed_as_before(line, no_hint, monkeypatch):
    _store_line_events(line, ["Ubad", "Uok"])
    monkeypatch.setattr(processing.Batch, "handle", _failing_for({"Ubad"}, ValueError("no such module")))
    assert processing.process_batch() == 2
    bad = WebhookEvent.objects.get(user_key="Ubad")
    assert bad.state == "failed" and bad.processed_at is not None and bad.error == "ValueError: no such module"
    assert bad.retry_at is None and bad.attempts == 0
    assert Contact.objects.get().external_id == "Uok"


def test_a_lost_connection_keeps_the_whole_batch_pending_and_stops_the_drain(line, no_hint, monkeypatch, caplog):
    """The savepoint of the failed group cannot be rolled back (the connection is gone): nothing of the batch
    can commit. The drain logs one line and returns instead of trying every remaining group."""
    _store_line_events(line, ["Ua", "Ub", "Uc", "Ud"])
    tried = []
    original = processing.Batch.handle

    def handle(self, event):
        tried.append(event.user_key)
        if event.user_key == "Ub":
            raise OperationalError("terminating connection due to administrator command")
        return original(self, event)

    real_rollback = connection.savepoint_rollback

    def savepoint_rollback(sid):  # the first one fails, as on a dead connection
        monkeypatch.setattr(connection, "savepoint_rollback", real_rollback)
        raise OperationalError("connection already closed")

    monkeypatch.setattr(processing.Batch, "handle", handle)
    monkeypatch.setattr(connection, "savepoint_rollback", savepoint_rollback)
    caplog.set_level(logging.DEBUG)

    assert processing.drain(linger=0) == 0
    assert tried == ["Ua", "Ub"]
    assert WebhookEvent.objects.filter(processed_at__isnull=True, state="pending", attempts=0).count() == 4
    assert not Contact.objects.exists()
    logs = _processing_logs(caplog)
    assert len(logs) == 1 and logs[0].exc_info is None
    assert "webhook batch lost, 4 events: OperationalError: terminating connection" in logs[0].getMessage()


# ------------------------------------------------------------------ 23.2: one announcement per team per batch
def test_a_batch_announces_its_timeline_events_once_per_team(no_hint, monkeypatch):
    """50 new contacts over 2 teams in one batch: each team's timeline events are announced together (one task
    per consumer), not one announcement per contact. A group that fails does not take the others' with it."""
    teams = [TeamFactory(), TeamFactory()]
    channels = [ChannelFactory(team=team, kind="line") for team in teams]
    for n, channel in enumerate(channels):
        _store_line_events(channel, [f"U{n}-{i:02d}" for i in range(25)])
    calls = []
    real_announce = cdp_events.announce

    def spy(team_id, ids):
        calls.append((team_id, list(ids)))
        return real_announce(team_id, ids)

    monkeypatch.setattr(cdp_events, "announce", spy)
    monkeypatch.setattr(processing.Batch, "handle", _failing_for({"U0-07"}, ValueError("bad data")))

    assert processing.process_batch(batch_size=500) == 50

    for team in teams:
        recorded = set(CustomerEvent.objects.filter(team=team).values_list("pk", flat=True))
        assert len(recorded) == (24 if team == teams[0] else 25)
        announced = [set(ids) for team_id, ids in calls if team_id == team.pk]
        complete = [ids for ids in announced if ids >= recorded]
        assert len(complete) == 1, "one announcement carries all the batch's events of the team"
        assert all(ids <= complete[0] for ids in announced)


def test_a_database_gone_at_the_claim_or_commit_stops_the_drain_with_one_line(monkeypatch, caplog):
    calls = []

    def batch(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OperationalError("could not connect to server")
        return 3

    monkeypatch.setattr(processing, "process_batch", batch)
    caplog.set_level(logging.DEBUG)
    assert processing.drain(linger=10) == 3 and len(calls) == 2
    logs = _processing_logs(caplog)
    assert len(logs) == 1 and logs[0].exc_info is None
    assert logs[0].getMessage() == (
        "webhook batch lost, OperationalError: could not connect to server; its events stay pending"
    )


def test_a_group_failing_after_its_message_was_read_leaves_no_orphan_message(line, no_hint, monkeypatch):
    """The failed group's new contact was rolled back: its message must not be inserted with the batch (it would
    point at no contact, and the whole batch would fail at commit, again at every retry)."""
    _store_line_events(line, ["Unew", "Uok"])
    original = processing.Batch.customer_message

    def customer_message(self, event, contact, **kw):
        original(self, event, contact, **kw)
        if event.user_key == "Unew":
            raise ValueError("auto-reply rule is broken")

    monkeypatch.setattr(processing.Batch, "customer_message", customer_message)
    assert processing.process_batch() == 2
    assert list(InboundMessage.objects.values_list("contact__external_id", flat=True)) == ["Uok"]
    assert list(Contact.objects.values_list("external_id", flat=True)) == ["Uok"]
    assert WebhookEvent.objects.get(user_key="Unew").state == "failed"


@pytest.mark.postgres
@pytest.mark.skipif(not settings.IS_POSTGRES, reason="terminates a PostgreSQL backend")
@pytest.mark.django_db(transaction=True)
def test_a_backend_terminated_mid_batch_logs_one_line_and_loses_nothing(line, no_hint, monkeypatch, caplog):
    """The real thing: the server ends our connection while a batch of 30 contacts is half done."""
    import psycopg

    users = [f"U{i:02d}" for i in range(30)]
    _store_line_events(line, users)
    db = connection.settings_dict
    original = processing.Batch.handle

    def handle(self, event):
        if event.user_key == "U10":
            pid = connection.connection.info.backend_pid
            with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"]) as killer:
                killer.execute("SELECT pg_terminate_backend(%s)", [pid])
        return original(self, event)

    monkeypatch.setattr(processing.Batch, "handle", handle)
    caplog.set_level(logging.DEBUG)
    assert processing.drain(linger=0) == 0
    logs = _processing_logs(caplog)
    assert len(logs) == 1 and logs[0].exc_info is None and "webhook batch lost, 30 events" in logs[0].getMessage()

    monkeypatch.undo()
    assert WebhookEvent.objects.filter(state="pending", attempts=0).count() == 30  # a new connection, nothing lost
    assert not Contact.objects.exists()
    assert processing.drain(linger=0) == 30
    assert Contact.objects.count() == 30 and not WebhookEvent.objects.exclude(state="processed").exists()


def test_signed_meta_requests_whose_entries_are_not_objects_answer_400_not_500(client, page, team):
    wa = ChannelFactory(team=team, kind="whatsapp", external_id="1065", credentials={"app_secret": META_SECRET})
    assert post_meta(client, page, b'{"object": "page", "entry": [1]}').status_code == 400
    assert post_meta(client, page, b'{"object": "page", "entry": [{"id": "1", "messaging": [2]}]}').status_code == 400
    body = b'{"object": "whatsapp_business_account", "entry": [{"changes": ["x"]}]}'
    assert post_meta(client, wa, body, path="whatsapp").status_code == 400
    assert not WebhookEvent.objects.exists()
