"""Stored channel credentials: old key spellings renamed to the one name (cdp.credentials), every row encrypted.

LINE channels created through the API stored `channel_access_token` and Messenger channels connected in the
console stored `page_access_token`; the adapters read `access_token`. The renames are frozen here (not read
from cdp.credentials) so this migration means the same thing forever.
"""

import json

from django.db import migrations

from cdp.encryption import decrypt

RENAMES = {"line": {"channel_access_token": "access_token"}, "facebook": {"page_access_token": "access_token"}}


def forwards(apps, schema_editor):
    Channel = apps.get_model("cdp", "Channel")
    for channel in Channel.objects.only("id", "kind", "credentials").iterator(chunk_size=500):
        credentials = dict(channel.credentials or {})
        for old, new in RENAMES.get(channel.kind, {}).items():
            if old in credentials:
                value = credentials.pop(old)
                credentials.setdefault(new, value)
        # A save writes the Fernet token (rows from before 0007 hold plain JSON).
        Channel.objects.filter(pk=channel.pk).update(credentials=credentials)


def backwards(apps, schema_editor):
    """Plain JSON again, so reversing 0007 can turn the column back into JSON (the renames stay)."""
    table = apps.get_model("cdp", "Channel")._meta.db_table
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT id, credentials FROM {table}")
        for pk, text in cursor.fetchall():
            plain = json.dumps(decrypt(text), ensure_ascii=False)
            cursor.execute(f"UPDATE {table} SET credentials = %s WHERE id = %s", [plain, pk])


class Migration(migrations.Migration):
    dependencies = [("cdp", "0007_channel_credentials_encrypted")]

    operations = [migrations.RunPython(forwards, backwards)]
