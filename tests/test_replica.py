"""Reads from the replica (core/replica.py).

Without DATABASE_REPLICA_URL: replica-reading views behave exactly as before (no header, no text). With it (`.ci/run`
starts a real hot standby of the test database's cluster on 127.0.0.1:5433; marker `replica`): a write on the
primary appears on the replica and the page says how fresh it is; a write in the request, or just before it, is
never read back from the replica; a replica lagging beyond the bound is bypassed.
"""

import os
import time
from unittest import mock

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from analytics.models import KpiSnapshot
from cdp.models import Customer, Tag
from core import replica

REPLICA_URL = os.environ.get("DATABASE_REPLICA_URL")


def test_without_a_replica_everything_reads_the_primary(console):
    response = console.get("/analytics/")
    assert response.status_code == 200
    assert "X-Data-As-Of" not in response
    assert b'data-testid="data-as-of"' not in response.content
    with replica.replica_reads() as scope:
        assert replica.read_alias() == "default"
        assert scope.as_of is None


# --- against a real standby -------------------------------------------------------------------------------------


@pytest.fixture
def standby(settings):
    """The replica connection, its lag cache emptied, replay resumed afterwards whatever the test did."""
    replica._lag_cache.update(at=float("-inf"), lag=None)
    yield connections["replica"]
    with connections["replica"].cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_resume()")
    replica._lag_cache.update(at=float("-inf"), lag=None)


def _wait_on_replica(queryset, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if queryset.using("replica").exists():
            return True
        time.sleep(0.05)
    return False


def _pause_replay(standby):
    with standby.cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_pause()")
    replica._lag_cache.update(at=float("-inf"), lag=None)


@pytest.mark.replica
@pytest.mark.skipif(not REPLICA_URL, reason="DATABASE_REPLICA_URL is not set (.ci/run starts a standby)")
@pytest.mark.django_db(transaction=True, databases=["default", "replica"])
def test_a_write_on_the_primary_appears_on_the_replica_and_the_page_reports_its_lag(standby, console, team):
    with standby.cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        assert cursor.fetchone()[0] is True  # a real standby, not the primary under another name
    customer = Customer.objects.create(team=team, name="replicated")
    # The first visit stores the team's KPI snapshot: a write, so that request (and browser) reads the primary.
    console.get("/analytics/")
    assert _wait_on_replica(Customer.objects.filter(pk=customer.pk)), "the write never reached the standby"
    assert _wait_on_replica(KpiSnapshot.objects.filter(team=team))
    assert replica.PRIMARY_COOKIE in console.cookies  # that browser reads the primary for a while: forget it
    del console.cookies[replica.PRIMARY_COOKIE]
    lag = replica.lag_seconds(fresh=True)
    assert lag is not None and lag <= 30

    with CaptureQueriesContext(standby) as on_replica:
        page = console.get("/analytics/")
    assert page.status_code == 200
    assert len(on_replica) > 0, "the analytics page did not read the replica"
    assert page["X-Data-As-Of"] and float(page["X-Replica-Lag-Seconds"]) <= 30
    assert b'data-testid="data-as-of"' in page.content

    with CaptureQueriesContext(standby) as on_replica:
        api = console.get("/api/v1/analytics/kpis")
    assert api.status_code == 200, api.content
    assert len(on_replica) > 0 and api["X-Data-As-Of"]


@pytest.mark.replica
@pytest.mark.skipif(not REPLICA_URL, reason="DATABASE_REPLICA_URL is not set (.ci/run starts a standby)")
@pytest.mark.django_db(transaction=True, databases=["default", "replica"])
def test_a_write_in_the_scope_is_never_read_back_from_the_replica(standby, team):
    _pause_replay(standby)  # the replica now misses every later write
    with replica.replica_reads() as scope:
        assert scope.alias == "replica"
        assert replica.read_alias() == "replica"
        with CaptureQueriesContext(standby) as on_replica:
            tag = Tag.objects.create(team=team, name="just written")
            assert Tag.objects.filter(pk=tag.pk).exists()
            assert Customer.objects.filter(team=team).count() == 0
        assert len(on_replica) == 0
        assert replica.read_alias() == "default"
    assert not Tag.objects.using("replica").filter(pk=tag.pk).exists()  # really stale: the primary answered


@pytest.mark.replica
@pytest.mark.skipif(not REPLICA_URL, reason="DATABASE_REPLICA_URL is not set (.ci/run starts a standby)")
@pytest.mark.django_db(transaction=True, databases=["default", "replica"])
def test_the_page_after_a_write_reads_the_primary(standby, console, team):
    _pause_replay(standby)
    created = console.post("/customers/tags/new/", {"name": "VIP 新標籤"})
    assert created.status_code in (200, 302), created.content[:500]
    assert Tag.objects.filter(team=team, name="VIP 新標籤").exists()
    assert replica.PRIMARY_COOKIE in created.cookies
    with CaptureQueriesContext(standby) as on_replica:
        page = console.get("/analytics/")
    assert page.status_code == 200
    assert len(on_replica) == 0 and "X-Data-As-Of" not in page


@pytest.mark.replica
@pytest.mark.skipif(not REPLICA_URL, reason="DATABASE_REPLICA_URL is not set (.ci/run starts a standby)")
@pytest.mark.django_db(transaction=True, databases=["default", "replica"])
def test_a_replica_lagging_beyond_the_bound_is_bypassed(standby, console, team, settings):
    settings.DATABASE_REPLICA_MAX_LAG_SECONDS = 0.5
    _pause_replay(standby)
    Customer.objects.create(team=team, name="not replayed")
    time.sleep(1.0)
    assert replica.lag_seconds(fresh=True) > 0.5
    with CaptureQueriesContext(standby) as on_replica:
        page = console.get("/analytics/")
    assert page.status_code == 200
    assert "X-Data-As-Of" not in page
    assert len([q for q in on_replica if "pg_last_wal_replay_lsn" not in q["sql"]]) == 0
    with mock.patch("accounts.views.worker_heartbeat", return_value=timezone.now()):
        health = console.get("/healthz").json()
    assert health["replica_lag_seconds"] > 0.5 and health["replica"] == "lagging (bypassed)"


@pytest.mark.django_db(transaction=True)  # outside a test transaction: reads inside one never go to a replica
def test_an_unreachable_replica_is_bypassed_and_not_asked_again_at_once(console, settings, monkeypatch):
    """A replica that cannot be reached: the page reads the primary, and the next requests do not wait for another
    connection attempt until UNREACHABLE_RETRY_SECONDS have passed."""
    attempts = []

    monkeypatch.setattr(replica, "configured", lambda: True)
    monkeypatch.setattr(replica, "_lag_cache", {"at": float("-inf"), "lag": None})

    class Down:
        def cursor(self):
            attempts.append(1)
            raise OSError("connection refused")

    monkeypatch.setattr(replica, "connections", {"default": replica.connections["default"], "replica": Down()})
    for _ in range(3):
        response = console.get("/analytics/")
        assert response.status_code == 200 and "X-Data-As-Of" not in response
    assert len(attempts) == 1
