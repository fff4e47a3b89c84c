"""The event log partitioned by month (cdp/partitions.py, migration 0012): partitions ahead, rows landing in the
right month, retention by team (whole partitions only when every team allows it), and the readers of the log
pruned to the months they need, pinned by EXPLAIN on PostgreSQL. On SQLite the log is one table."""

import re
from datetime import UTC, date, datetime

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analytics import rollups
from cdp import partitions
from cdp.models import CustomerEvent, EventType
from cdp.presenters import timeline_page
from cdp.tests.factories import ChannelFactory, ContactFactory

pytestmark = pytest.mark.django_db
postgres_only = pytest.mark.skipif(not settings.IS_POSTGRES, reason="native partitioning is PostgreSQL's")
NOW = datetime(2026, 12, 15, 12, tzinfo=UTC)


def _event(team, contact, when, type_=EventType.TAG_ADDED):
    return CustomerEvent.objects.create(
        team=team, customer=contact.customer, contact=contact, channel=contact.channel, type=type_, occurred_at=when
    )


def _where(event):
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM cdp_customerevent WHERE id = %s", [event.pk])
        return cursor.fetchone()[0]


def _scanned(sql):
    """The event-log partitions an EXPLAIN of this statement reads."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    return set(re.findall(r"\bon (cdp_customerevent_(?:p\d{6}|default))\b", plan))


def _months(*starts):
    with connection.cursor() as cursor:
        for start in starts:
            partitions.create_month(cursor, start)


def test_sqlite_keeps_one_table(team):
    if settings.IS_POSTGRES:
        pytest.skip("SQLite only")
    assert partitions.is_partitioned() is False
    assert partitions.ensure_months(NOW) == []
    assert partitions.apply_retention(NOW) == {"dropped": [], "deleted": {}}


@postgres_only
def test_the_log_is_partitioned_and_months_are_created_ahead(team):
    assert partitions.is_partitioned()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'cdp_customerevent'::regclass "
            "AND contype = 'p'"
        )
        assert cursor.fetchone()[0] == "PRIMARY KEY (id, occurred_at)"
    contact = ContactFactory(team=team, channel=ChannelFactory(team=team, kind="line"))
    far = _event(team, contact, datetime(2031, 5, 2, tzinfo=UTC))  # beyond the months created: the default
    assert _where(far) == "cdp_customerevent_default"
    created = partitions.ensure_months(datetime(2031, 4, 20, tzinfo=UTC), ahead=2)
    assert created == ["cdp_customerevent_p203104", "cdp_customerevent_p203105", "cdp_customerevent_p203106"]
    assert _where(far) == "cdp_customerevent_p203105"  # moved out of the default when its month was created
    assert partitions.ensure_months(datetime(2031, 4, 20, tzinfo=UTC), ahead=2) == []  # idempotent
    far.refresh_from_db()  # the ORM still finds it by id
    assert CustomerEvent.objects.get(pk=far.pk).occurred_at == datetime(2031, 5, 2, tzinfo=UTC)


@postgres_only
def test_retention_deletes_a_teams_rows_and_drops_a_month_only_when_every_team_allows(team, other_team):
    old, kept = datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    _months(old, kept)
    a = ContactFactory(team=team, channel=ChannelFactory(team=team, kind="line"))
    b = ContactFactory(team=other_team, channel=ChannelFactory(team=other_team, kind="line"))
    a_old, a_kept, b_old = _event(team, a, old), _event(team, a, kept), _event(other_team, b, old)
    team.event_retention_months = 3
    team.save(update_fields=["event_retention_months"])

    result = partitions.apply_retention(NOW)  # team B keeps everything: the June partition stays
    assert result == {"dropped": [], "deleted": {team.pk: 1}}
    assert not CustomerEvent.objects.filter(pk=a_old.pk).exists()
    assert CustomerEvent.objects.filter(pk__in=[a_kept.pk, b_old.pk]).count() == 2

    other_team.event_retention_months = 4
    other_team.save(update_fields=["event_retention_months"])
    result = partitions.apply_retention(NOW)  # now both allow it: June (and earlier months) dropped whole
    assert "cdp_customerevent_p202606" in result["dropped"]
    assert "cdp_customerevent_p202611" not in result["dropped"]
    assert not CustomerEvent.objects.filter(pk=b_old.pk).exists()
    assert CustomerEvent.objects.filter(pk=a_kept.pk).exists()


@postgres_only
def test_readers_of_the_log_prune_to_the_months_they_need(team):
    months = [datetime(2026, m, 1, tzinfo=UTC) for m in (9, 10, 11)]
    _months(*months)
    contact = ContactFactory(team=team, channel=ChannelFactory(team=team, kind="line"))
    for start in months:
        _event(team, contact, start.replace(day=15), EventType.CONTACT_CREATED)

    # A rollup refresh of one local day (Asia/Taipei) reads October's partition only.
    with CaptureQueriesContext(connection) as refresh:
        rollups.refresh_days(team, [date(2026, 10, 15)])
    reads = [
        q["sql"]
        for q in refresh
        if "cdp_customerevent" in q["sql"] and q["sql"].lstrip().startswith(("SELECT", "WITH"))
    ]
    assert reads, "the rollup refresh did not read the event log"
    scanned = [_scanned(sql) for sql in reads]
    # The day counts read that month's partition alone; the subscription-state query also reads the touched
    # contacts' earlier history (a state is the sum of what came before), never a later month.
    assert {"cdp_customerevent_p202610"} in scanned, scanned
    later = {"cdp_customerevent_p202611", "cdp_customerevent_p202612", "cdp_customerevent_p202701"}
    assert all(not (later & partitions_read) for partitions_read in scanned), scanned

    # A timeline page after a cursor in October never reads the later months (the default partition may hold
    # older events, so it stays in the plan).
    _rows, _next = timeline_page(team, contact.customer)
    cursor = f"{datetime(2026, 10, 20, tzinfo=UTC).isoformat()}_999999999"
    with CaptureQueriesContext(connection) as page:
        timeline_page(team, contact.customer, after=cursor)
    (sql,) = [q["sql"] for q in page if "cdp_customerevent" in q["sql"]]
    scanned = _scanned(sql)
    assert not {"cdp_customerevent_p202611", "cdp_customerevent_p202612"} & scanned, scanned
    assert "cdp_customerevent_p202610" in scanned

    # A month of one team's events (the analytics and journey readers' shape) reads that month only.
    month = CustomerEvent.objects.filter(team=team, occurred_at__gte=months[1], occurred_at__lt=months[2])
    plan = month.explain()
    assert "cdp_customerevent_p202610" in plan
    assert not {"cdp_customerevent_p202609", "cdp_customerevent_p202611", "cdp_customerevent_default"} & set(
        re.findall(r"cdp_customerevent_(?:p\d{6}|default)", plan)
    )
