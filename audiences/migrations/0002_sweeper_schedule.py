"""Run the broadcast sweeper every minute (snapshots 15 minutes before sending, then sends)."""

from django.db import migrations

NAME = "audiences.sweep_broadcasts"


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=NAME,
        defaults={"func": "audiences.tasks.sweep_broadcasts", "schedule_type": "I", "minutes": 1, "repeats": -1},
    )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("audiences", "0001_packs_broadcasts"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(create, remove)]
