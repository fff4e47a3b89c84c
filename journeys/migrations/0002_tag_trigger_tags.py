"""Tag triggers hold one or more tags (「貼上任一標籤」): {"tag": name} becomes {"tags": [name]}."""

from django.db import migrations


def forwards(apps, schema_editor):
    Journey = apps.get_model("journeys", "Journey")
    for journey in Journey.objects.filter(trigger_type="tag_added").only("pk", "trigger_config"):
        config = dict(journey.trigger_config or {})
        if "tag" not in config:
            continue
        legacy = config.pop("tag")
        if "tags" not in config:
            config["tags"] = [legacy.strip()] if isinstance(legacy, str) and legacy.strip() else []
        Journey.objects.filter(pk=journey.pk).update(trigger_config=config)


def backwards(apps, schema_editor):
    Journey = apps.get_model("journeys", "Journey")
    for journey in Journey.objects.filter(trigger_type="tag_added").only("pk", "trigger_config"):
        config = dict(journey.trigger_config or {})
        tags = config.pop("tags", None) or []
        config["tag"] = tags[0] if tags else ""
        Journey.objects.filter(pk=journey.pk).update(trigger_config=config)


class Migration(migrations.Migration):
    dependencies = [("journeys", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
