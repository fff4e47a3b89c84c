"""A covering partial index on cdp_contact for audience queries (PostgreSQL only).

Django adds indexes only to a migration's own app's models, so this cdp index is created here with raw SQL.
Audience counts scan the reachable contacts of one channel and test each contact's customer_id against tag /
attribute sets; this index holds exactly those contacts (the ``reachable()`` filter plus "not unsubscribed from
broadcasts") with customer_id and id, so the scan is index-only and a few times smaller than the table.
Measured at 1,000,000 contacts: tag OR attribute 380 ms → 270 ms, two tags AND 218 ms → 150 ms (python manage.py bench audiences).
"""

from django.db import migrations

INDEX = "contact_reachable_cover"
CREATE = (
    f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON cdp_contact (team_id, channel_id, customer_id) "
    "INCLUDE (id) WHERE status = 'subscribed' AND NOT is_over_quota AND NOT unsubscribed_broadcast"
)
DROP = f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY: no long write lock on a large contact table

    dependencies = [
        ("audiences", "0003_recipient_lean"),
        ("cdp", "0002_import_job"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
