"""The customer event log becomes a table partitioned by month of occurred_at (PostgreSQL only; see cdp/partitions.py).

One transaction: a new partitioned table (same columns, ids from a sequence: PostgreSQL 15 has no identity columns
on partitioned tables), monthly partitions from the oldest event's month (at most 24 months back; older rows go to
the default partition) to three months ahead, every row copied, the old table dropped, the new one renamed and the
old table's indexes re-created on it under the same names. The primary key becomes (id, occurred_at). It holds an
exclusive lock on the log while it copies: at millions of events, run it in a quiet hour. Reversing leaves the
partitioned table in place (the model reads it the same way).
"""

from datetime import UTC, datetime

from django.db import migrations

T = "cdp_customerevent"
NEW = "cdp_customerevent_part"


def _month(moment):
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def _add(start, months):
    index = start.year * 12 + start.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partition(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as c:
        c.execute("SELECT 1 FROM pg_partitioned_table WHERE partrelid = %s::regclass", [T])
        if c.fetchone():
            return
        c.execute(f"SELECT MIN(occurred_at), MAX(id) FROM {T}")
        oldest, max_id = c.fetchone()
        c.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = current_schema() AND i.tablename = %s "
            "AND i.indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
            [T, T],
        )
        indexes = c.fetchall()
        c.execute(f"CREATE SEQUENCE {T}_id_part_seq")
        c.execute(f"SELECT setval('{T}_id_part_seq', %s, false)", [(max_id or 0) + 1])
        c.execute(f"CREATE TABLE {NEW} (LIKE {T} INCLUDING DEFAULTS) PARTITION BY RANGE (occurred_at)")
        c.execute(f"ALTER TABLE {NEW} ALTER COLUMN id SET DEFAULT nextval('{T}_id_part_seq')")
        c.execute(f"ALTER TABLE {NEW} ADD CONSTRAINT {NEW}_pkey PRIMARY KEY (id, occurred_at)")
        c.execute(f"CREATE TABLE {T}_default PARTITION OF {NEW} DEFAULT")
        this_month = _month(datetime.now(UTC))
        start = max(_month(oldest.astimezone(UTC)), _add(this_month, -24)) if oldest else this_month
        while start <= _add(this_month, 3):
            end = _add(start, 1)
            c.execute(f"CREATE TABLE {T}_p{start:%Y%m} PARTITION OF {NEW} FOR VALUES FROM (%s) TO (%s)", [start, end])
            start = end
        c.execute(f"INSERT INTO {NEW} SELECT * FROM {T}")
        c.execute(f"DROP TABLE {T}")
        c.execute(f"ALTER TABLE {NEW} RENAME TO {T}")
        c.execute(f"ALTER TABLE {T} RENAME CONSTRAINT {NEW}_pkey TO {T}_pkey")
        c.execute(f"ALTER SEQUENCE {T}_id_part_seq RENAME TO {T}_id_seq")
        c.execute(f"ALTER SEQUENCE {T}_id_seq OWNED BY {T}.id")
        for _name, definition in indexes:
            c.execute(definition)
        c.execute(f"ANALYZE {T}")


class Migration(migrations.Migration):
    dependencies = [
        ("cdp", "0012_points_ledger"),
        ("journeys", "0004_trigger_event_without_constraint"),
    ]

    operations = [migrations.RunPython(partition, migrations.RunPython.noop, elidable=False)]
