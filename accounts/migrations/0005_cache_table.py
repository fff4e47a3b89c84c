"""The database cache's table (settings.CACHES when REDIS_URL is unset), so `migrate` alone gives a working
server: sign-in throttling, API throttling and the worker heartbeat all use the cache."""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    # Idempotent: createcachetable skips a table that exists, and does nothing for non-database caches.
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0004_outbound_webhook_deliveries")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
