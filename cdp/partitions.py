"""The customer event log (cdp_customerevent) partitioned by month of occurred_at, on PostgreSQL.

Migration 0012 turned the table into ``PARTITION BY RANGE (occurred_at)``: one partition per calendar month (UTC
bounds), named ``cdp_customerevent_pYYYYMM``, plus ``cdp_customerevent_default`` for anything outside them (an
event dated years back, or beyond the months created ahead). The primary key is (id, occurred_at), as PostgreSQL
requires of a partitioned table; ids still come from one sequence, so the ORM keeps using ``id`` alone. No foreign
key points at the log (journeys' Enrollment.trigger_event carries no constraint, like the log's own keys).

A daily Schedule (:func:`maintain`) creates the next ``MONTHS_AHEAD`` months, then applies retention:

- ``Team.event_retention_months`` (None: keep forever) deletes that team's events older than N whole months;
- a month's partition is dropped whole (no row-by-row DELETE, no bloat) only once *every* team allows it: the
  partitions are shared by all teams, so one team that keeps its history (the default) keeps the partition.

Analytics rollups (days, KPI snapshots) are written as events arrive (the hand-off), so the daily figures of a
dropped month stay; what retention removes is the raw log (timeline entries, and what a rollup *rebuild* could
recompute from). On SQLite the log stays one plain table and these functions do nothing.
"""

import logging
from datetime import UTC, datetime

from django.db import connection, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

PARENT = "cdp_customerevent"
DEFAULT = f"{PARENT}_default"
MONTHS_AHEAD = 3
MIN_RETENTION_MONTHS = 3  # shorter would cut into the months the rollups and journeys still read


def month_start(moment):
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def add_months(start, months):
    index = start.year * 12 + start.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partition_name(start):
    return f"{PARENT}_p{start:%Y%m}"


def is_partitioned():
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_partitioned_table WHERE partrelid = %s::regclass", [PARENT])
        return cursor.fetchone() is not None


def months():
    """{month start: partition name} of the existing monthly partitions."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [PARENT],
        )
        names = [row[0] for row in cursor.fetchall()]
    found = {}
    for name in names:
        suffix = name.removeprefix(f"{PARENT}_p")
        if suffix != name and suffix.isdigit() and len(suffix) == 6:
            found[datetime(int(suffix[:4]), int(suffix[4:]), 1, tzinfo=UTC)] = name
    return found


def create_month(cursor, start):
    """Create the month's partition (idempotent). Rows of that month already sitting in the default partition
    are moved into it first, as PostgreSQL requires before the bound can be attached."""
    name, end = partition_name(start), add_months(start, 1)
    cursor.execute("SELECT to_regclass(%s)", [name])
    if cursor.fetchone()[0] is not None:
        return False
    cursor.execute(
        f"SELECT EXISTS (SELECT 1 FROM {DEFAULT} WHERE occurred_at >= %s AND occurred_at < %s)", [start, end]
    )
    if not cursor.fetchone()[0]:
        cursor.execute(f"CREATE TABLE {name} PARTITION OF {PARENT} FOR VALUES FROM (%s) TO (%s)", [start, end])
        return True
    cursor.execute(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    cursor.execute(
        f"WITH moved AS (DELETE FROM {DEFAULT} WHERE occurred_at >= %s AND occurred_at < %s RETURNING *) "
        f"INSERT INTO {name} SELECT * FROM moved",
        [start, end],
    )
    cursor.execute(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)", [start, end])
    return True


def ensure_months(now=None, ahead=MONTHS_AHEAD):
    """The current month and the next `ahead` months exist. Returns the names created."""
    if not is_partitioned():
        return []
    first = month_start(now or timezone.now())
    created = []
    with transaction.atomic(), connection.cursor() as cursor:
        for offset in range(ahead + 1):
            start = add_months(first, offset)
            if create_month(cursor, start):
                created.append(partition_name(start))
    return created


def apply_retention(now=None):
    """Teams' event retention: whole partitions dropped where every team allows it, then each team's older rows
    deleted. Returns {"dropped": [names], "deleted": {team_id: rows}}."""
    from accounts.models import Team

    result = {"dropped": [], "deleted": {}}
    if connection.vendor != "postgresql":
        return result
    this_month = month_start(now or timezone.now())
    settings = dict(Team.objects.values_list("pk", "event_retention_months"))
    cutoffs = {
        team_id: add_months(this_month, -max(months_kept, MIN_RETENTION_MONTHS))
        for team_id, months_kept in settings.items()
        if months_kept
    }
    partitioned = is_partitioned()
    if partitioned and settings and len(cutoffs) == len(settings):
        common = min(cutoffs.values())
        for start, name in sorted(months().items()):
            if add_months(start, 1) <= common:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(f"ALTER TABLE {PARENT} DETACH PARTITION {name}")
                    cursor.execute(f"DROP TABLE {name}")
                result["dropped"].append(name)
    for team_id, cutoff in cutoffs.items():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {PARENT} WHERE team_id = %s AND occurred_at < %s", [team_id, cutoff])
            if cursor.rowcount:
                result["deleted"][team_id] = cursor.rowcount
    if result["dropped"] or result["deleted"]:
        logger.info("event log retention: dropped %s, deleted %s", result["dropped"], result["deleted"])
    return result


def maintain(now=None):
    """The daily Schedule: months ahead, then retention."""
    created = ensure_months(now)
    return {"created": created, **apply_retention(now)}
