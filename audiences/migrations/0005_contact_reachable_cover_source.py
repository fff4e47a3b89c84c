"""Audience indexes, second round (PostgreSQL only; raw SQL as in 0004, since they are on cdp tables).

- ``contact_reachable_cover`` gets ``source`` as a key column, (team_id, channel_id, source, customer_id)
  INCLUDE (id): a condition on the contact's source becomes an index condition of the same index-only scan,
  instead of a bitmap heap scan of the channel (nested three-level shape at 1,000,000 contacts: 411 ms → 154-194 ms).
  Shapes without a source condition still scan the channel's whole range of it, as before.
- (The covering attribute-value indexes measured with this round — preview of tag OR attribute 106 ms → 18 ms,
  nested 136 ms → 31 ms — are cdp's own attrvalue_attr_* indexes with INCLUDE (team_id, customer_id): cdp 0005.)
- ``contact_reachable_newest`` (team_id, channel_id, id) on the reachable contacts: the preview page walks one
  channel's contacts newest first; walking the primary key instead passes every newer contact of other teams and
  channels first (with a second 1,000,000-contact team added after the seeded one: previews 13-52 ms → 190-400 ms).
Measured with python manage.py bench audiences; figures in the README.
"""

from django.db import migrations

COVER = "contact_reachable_cover"
REACHABLE = "WHERE status = 'subscribed' AND NOT is_over_quota AND NOT unsubscribed_broadcast"
COVER_OLD = f"ON cdp_contact (team_id, channel_id, customer_id) INCLUDE (id) {REACHABLE}"
COVER_NEW = f"ON cdp_contact (team_id, channel_id, source, customer_id) INCLUDE (id) {REACHABLE}"
EXTRA_INDEXES = {"contact_reachable_newest": f"ON cdp_contact (team_id, channel_id, id) {REACHABLE}"}


def _replace_cover(schema_editor, definition):
    # build the new one first, so audience queries always have a covering index
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {COVER}_new")
    schema_editor.execute(f"CREATE INDEX CONCURRENTLY {COVER}_new {definition}")
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {COVER}")
    schema_editor.execute(f"ALTER INDEX {COVER}_new RENAME TO {COVER}")


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    _replace_cover(schema_editor, COVER_NEW)
    for name, definition in EXTRA_INDEXES.items():
        schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} {definition}")


def backward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in EXTRA_INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    _replace_cover(schema_editor, COVER_OLD)


class Migration(migrations.Migration):
    atomic = False  # CREATE / DROP INDEX CONCURRENTLY: no long write lock on large contact / attribute tables

    dependencies = [("audiences", "0004_contact_reachable_cover")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
