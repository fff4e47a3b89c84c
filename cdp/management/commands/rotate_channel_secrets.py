"""`manage.py rotate_channel_secrets`: re-encrypt every channel's credentials under the first key of
CHANNEL_SECRET_KEYS (after putting a new key first). Once it has run, the old keys can be removed."""

from django.core.management.base import BaseCommand
from django.db import connection, transaction

from cdp.encryption import rotate
from cdp.models import Channel


class Command(BaseCommand):
    help = "Re-encrypt channel credentials with the first key of CHANNEL_SECRET_KEYS."

    def handle(self, *args, **options):
        table = Channel._meta.db_table
        ids = list(Channel.objects.order_by("pk").values_list("pk", flat=True))
        rotated = 0
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            with transaction.atomic(), connection.cursor() as cursor:
                placeholders = ", ".join(["%s"] * len(chunk))
                cursor.execute(f"SELECT id, credentials FROM {table} WHERE id IN ({placeholders})", chunk)
                for pk, text in cursor.fetchall():
                    # Raw text through MultiFernet.rotate; a row saved meanwhile is left as written (it already
                    # carries the first key).
                    cursor.execute(
                        f"UPDATE {table} SET credentials = %s WHERE id = %s AND credentials = %s",
                        [rotate(text), pk, text],
                    )
                    rotated += cursor.rowcount
        self.stdout.write(f"Re-encrypted the credentials of {rotated} channels.")
