"""One process of `manage.py bench commerce_orders_api`: POST /api/v1/orders `count` times (in-process WSGI client,
an admin API key), or with --raw the same rows by hand-written INSERTs. Prints "<made> <seconds>"."""

import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()  # the imports below need the app registry

from django.db import connection, transaction  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import Team  # noqa: E402
from tests.factories import api_client_for  # noqa: E402


def main():
    team_id, contact_id, count = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    raw = "--raw" in sys.argv
    team = Team.objects.get(pk=team_id)
    body = {
        "contact": contact_id,
        "items": [
            {"name": "保濕精華", "quantity": 2, "unit_price": "640"},
            {"name": "化妝棉", "quantity": 1, "unit_price": "80"},
        ],
    }
    client = None if raw else api_client_for(team)
    made = 0
    started = time.perf_counter()
    for i in range(count):
        if raw:
            _raw_insert(team, contact_id, i)
            made += 1
            continue
        response = client.post("/api/v1/orders", body, format="json")
        made += response.status_code == 201
    print(made, time.perf_counter() - started)


def _raw_insert(team, contact_id, i):
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO commerce_order (team_id, number, status, source, customer_id, contact_id, channel_id,"
            " currency, total, delivery, shipping_address, payment_choice, payment_method, email, note, catalog_id,"
            " source_message_id, created_at, updated_at) SELECT %s, %s, 'draft', 'staff', customer_id, id, channel_id,"
            " %s, 1360, '', '', '', '', '', '', '', '', %s, %s FROM cdp_contact WHERE id = %s RETURNING id",
            [team.pk, f"RAW{os.getpid()}-{i}", team.currency, now, now, contact_id],
        )
        order_id = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO commerce_orderitem (team_id, order_id, name, sku, quantity, unit_price, position) VALUES"
            " (%s, %s, '保濕精華', '', 2, 640, 0), (%s, %s, '化妝棉', '', 1, 80, 1)",
            [team.pk, order_id, team.pk, order_id],
        )


if __name__ == "__main__":
    with override_settings(ALLOWED_HOSTS=["*"], SECURE_SSL_REDIRECT=False, DEBUG=False):
        main()
