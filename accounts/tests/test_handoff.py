"""The durable hand-off (accounts/handoff.py): rows written with the fact, claimed, handled once, never lost."""

import logging

import pytest
from django.db import OperationalError, transaction
from django.test import TestCase
from django.utils import timezone

from accounts import handoff, notify
from accounts.models import Handoff
from tests.factories import TeamFactory

pytestmark = pytest.mark.django_db

CONSUMER = "accounts.tests.test_handoff.consume"
SIGNALS = "accounts.tests.test_handoff.on_signal"
calls = []


def consume(team_id, event_ids):
    calls.append((team_id, list(event_ids)))
    if event_ids and event_ids[0] == -1:
        raise ValueError("a consumer bug")
    if event_ids and event_ids[0] == -2:
        raise OperationalError("server closed the connection unexpectedly")


def on_signal(team_id, kind, payload):
    calls.append((team_id, kind, payload))


def announce(team_id, ids):
    """What cdp.events.announce writes outside a batch (accounts is below cdp and does not import it)."""
    handoff.add(team_id, "events", [list(ids)])


@pytest.fixture(autouse=True)
def _consumers(settings):
    settings.CUSTOMER_EVENT_CONSUMERS = [CONSUMER]
    settings.SIGNAL_CONSUMERS = [SIGNALS]
    calls.clear()
    handoff._hint.cache_clear()
    yield
    handoff._hint.cache_clear()


def test_rows_are_written_with_the_fact_and_vanish_with_its_rollback(team):
    with pytest.raises(RuntimeError), transaction.atomic():
        announce(team.pk, [1, 2])
        assert Handoff.objects.filter(consumer=CONSUMER).count() == 1
        raise RuntimeError("rolled back")
    assert not Handoff.objects.exists()
    announce(team.pk, [1, 2])
    row = Handoff.objects.get()
    assert (row.team_id, row.topic, row.payload) == (team.pk, "events", [1, 2])


def test_a_teams_pending_rows_coalesce_into_one_call_and_are_deleted(team):
    for pk in range(1, 201):  # 200 separate transactions, as webhook groups or merges write them
        announce(team.pk, [pk])
    assert handoff.drain(CONSUMER) == 200
    assert calls == [(team.pk, list(range(1, 201)))]
    assert not Handoff.objects.exists()


def test_one_teams_backlog_delays_another_team_by_one_chunk_at_most(team, other_team, monkeypatch):
    monkeypatch.setattr(handoff, "CLAIM_ROWS", 10)
    for pk in range(1, 101):
        announce(team.pk, [pk])
    announce(other_team.pk, [1000])
    handoff.drain(CONSUMER)
    teams = [call[0] for call in calls]
    assert teams.index(other_team.pk) == 1  # right after team A's first chunk of 10
    assert len(teams) == 11 and not Handoff.objects.exists()


def test_a_chunk_stops_at_the_event_id_bound(team, monkeypatch):
    monkeypatch.setattr(handoff, "CLAIM_EVENT_IDS", 5)
    announce(team.pk, [1, 2, 3])
    announce(team.pk, [4, 5, 6])
    announce(team.pk, list(range(7, 20)))  # larger than the bound alone: still handled, alone
    handoff.drain(CONSUMER)
    assert [ids for _team, ids in calls] == [[1, 2, 3], [4, 5, 6], list(range(7, 20))]


def test_a_failing_consumer_keeps_its_rows_with_a_backoff_and_one_log_line(team, other_team, caplog):
    for _ in range(30):
        announce(team.pk, [-1])
    announce(other_team.pk, [5])
    with caplog.at_level(logging.WARNING, logger="accounts.handoff"):
        handoff.drain(CONSUMER)
    assert (other_team.pk, [5]) in calls  # the other team is not blocked
    rows = list(Handoff.objects.all())
    assert len(rows) == 30 and all(row.attempts == 1 and "a consumer bug" in row.last_error for row in rows)
    assert all(row.available_at > timezone.now() for row in rows)
    lines = [r for r in caplog.records if r.name == "accounts.handoff"]
    assert len(lines) == 1 and "30 rows failed" in lines[0].getMessage() and lines[0].exc_info is None
    calls.clear()
    handoff.drain(CONSUMER)
    assert calls == []  # not due again before its backoff
    Handoff.objects.update(available_at=timezone.now())
    handoff.drain(CONSUMER)
    assert Handoff.objects.get(pk=rows[0].pk).attempts == 2


def test_a_lost_connection_leaves_the_rows_untouched(team, monkeypatch):
    announce(team.pk, [-2])
    monkeypatch.setattr(handoff, "_connection_usable", lambda: False)
    with pytest.raises(OperationalError):
        handoff.drain(CONSUMER)
    row = Handoff.objects.get()
    assert (row.attempts, row.last_error) == (0, "")  # retried as it was, never marked handled


def test_signals_are_handed_on_one_by_one_in_order(team):
    notify.emit(team.pk, "module_deleted", module_id=7)
    notify.emit(team.pk, "attribute_archived", attribute_id=3, key="city")
    assert handoff.drain(SIGNALS) == 2
    assert calls == [
        (team.pk, "module_deleted", {"module_id": 7}),
        (team.pk, "attribute_archived", {"attribute_id": 3, "key": "city"}),
    ]


def test_the_hint_is_sent_after_commit_and_throttled(team, monkeypatch):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)
    sent = []
    monkeypatch.setattr("accounts.queues.enqueue", lambda func, *args, **kw: sent.append((func, args, kw)))
    with TestCase.captureOnCommitCallbacks(execute=True):
        announce(team.pk, [1])
        assert sent == []
    assert sent == [
        (
            "accounts.tasks.drain_handoffs",
            (CONSUMER,),
            {"task_name": "hint:accounts.tasks.drain_handoffs", "route": CONSUMER},
        )
    ]
    with TestCase.captureOnCommitCallbacks(execute=True):
        announce(team.pk, [2])
    assert len(sent) == 1  # within HANDOFF_HINT_SECONDS: the running drain lingers for it


def test_heavy_consumers_drain_on_the_heavy_cluster(settings):
    from accounts import queues

    assert queues.cluster_for("analytics.tasks.on_customer_events") == settings.Q_HEAVY_CLUSTER
    assert queues.cluster_for("journeys.tasks.on_customer_events") is None


def test_the_backstop_schedules_exist_for_every_consumer(settings):
    from django_q.models import Schedule

    settings.CUSTOMER_EVENT_CONSUMERS = ["analytics.tasks.on_customer_events", "journeys.tasks.on_customer_events"]
    handoff.ensure_schedules()
    analytics = Schedule.objects.get(name="handoff: analytics.tasks.on_customer_events")
    assert analytics.func == "accounts.tasks.drain_handoffs" and analytics.cluster == settings.Q_HEAVY_CLUSTER
    journeys = Schedule.objects.get(name="handoff: journeys.tasks.on_customer_events")
    assert journeys.cluster is None and journeys.minutes == 1


def test_team_b_rows_are_not_handed_as_team_a(team):
    other = TeamFactory()
    announce(other.pk, [9])
    announce(team.pk, [8])
    handoff.drain(CONSUMER)
    assert sorted(calls) == sorted([(other.pk, [9]), (team.pk, [8])])


def test_a_broker_that_is_down_loses_the_hint_not_the_request(team, monkeypatch, caplog):
    """Redis restarting: the rows are committed; the hint fails with one log line and the caller carries on."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)

    def broker_down(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr("accounts.queues.enqueue", broker_down)
    with caplog.at_level(logging.WARNING, logger="accounts.queues"), TestCase.captureOnCommitCallbacks(execute=True):
        announce(team.pk, [1])
    assert Handoff.objects.filter(consumer=CONSUMER).count() == 1  # the work is there for the backstop
    assert ["Connection refused" in r.getMessage() for r in caplog.records if r.name == "accounts.queues"] == [True]


def test_no_hint_is_queued_while_its_drain_runs_and_the_drain_looks_once_more_after_clearing_its_mark(monkeypatch):
    """Steady traffic: one drain works, hints for it are not queued behind other work; rows whose hint was skipped
    while the mark stood are found by the look the drain takes after clearing it."""
    from django_q.conf import Conf

    from accounts import queues

    monkeypatch.setattr(Conf, "SYNC", False)
    sent = []
    monkeypatch.setattr(queues, "enqueue", lambda func, *args, **kw: sent.append(func))
    hint = queues.Hint("some.drain", drain="d")
    looks = []
    arrivals = iter([2, 0, 5, 0, 0])  # a batch; nothing; after the mark is cleared, rows a skipped hint announced

    def step():
        if not looks:
            assert queues.is_running("d") and hint() is False and sent == []  # skipped: the drain is running
        looks.append(queues.is_running("d"))
        return next(arrivals)

    assert queues.drain(step, linger=0, name="d") == 7
    assert looks == [True, True, False, True, False] and not queues.is_running("d")
    assert hint() is True and sent == ["some.drain"]  # no drain running: the hint goes out


def test_the_outbound_webhook_hint_survives_a_broker_that_is_down(monkeypatch):
    """The outbound webhook send is a hint too: with the broker down it logs and returns, it does not raise into
    the request or task that already committed (journeys/tests/test_hints.py covers the journeys' hints)."""
    from django_q.conf import Conf

    from accounts import outbound_webhooks

    monkeypatch.setattr(Conf, "SYNC", False)

    def broker_down(*args, **kwargs):
        raise ConnectionError("Connection refused")

    monkeypatch.setattr("accounts.queues.enqueue", broker_down)
    assert outbound_webhooks._hint_send() is False
