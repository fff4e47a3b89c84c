"""Backfill the statistics' daily rollup (DailyCount) from the participants that exist before it."""

from django.db import migrations


def backfill_daily_counts(apps, schema_editor):
    from omnilink import rollup

    models = (
        apps.get_model("omnilink", "Participant"),
        apps.get_model("omnilink", "DailyCount"),
        apps.get_model("omnilink", "Campaign"),
        apps.get_model("accounts", "Team"),
    )
    rollup.rebuild(models=models)


class Migration(migrations.Migration):
    dependencies = [("omnilink", "0003_daily_count")]

    operations = [migrations.RunPython(backfill_daily_counts, migrations.RunPython.noop)]
