"""The reachable-contact indexes (0004 / 0005) follow cdp's recipient rule (issue 24.10, seed 001).

A contact unsubscribed only from website marketing pushes or cart remarketing has status 'unsubscribed' (it is no
longer a 有效聯絡人) but still receives broadcasts, so "reachable" is no longer ``status = 'subscribed'``: it is
``cdp.models.receiving_q("broadcast")`` = not blocked, within the quota, not unsubscribed from broadcasts. The
partial indexes' WHERE is rewritten to that predicate, so the planner still proves them usable (PostgreSQL only).
"""

from django.db import migrations

COVER = "contact_reachable_cover"
OLD = "WHERE status = 'subscribed' AND NOT is_over_quota AND NOT unsubscribed_broadcast"
NEW = "WHERE status <> 'blocked' AND NOT is_over_quota AND NOT unsubscribed_broadcast"
INDEXES = {
    COVER: "ON cdp_contact (team_id, channel_id, source, customer_id) INCLUDE (id) {where}",
    "contact_reachable_newest": "ON cdp_contact (team_id, channel_id, id) {where}",
}


def _rebuild(schema_editor, where):
    # build each new index first, so audience queries always have one
    for name, definition in INDEXES.items():
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}_new")
        schema_editor.execute(f"CREATE INDEX CONCURRENTLY {name}_new {definition.format(where=where)}")
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        schema_editor.execute(f"ALTER INDEX {name}_new RENAME TO {name}")


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        _rebuild(schema_editor, NEW)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        _rebuild(schema_editor, OLD)


class Migration(migrations.Migration):
    atomic = False  # CREATE / DROP INDEX CONCURRENTLY: no long write lock on a large contact table

    dependencies = [("audiences", "0005_contact_reachable_cover_source")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
