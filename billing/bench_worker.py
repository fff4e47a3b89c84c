"""Debits one team's balance from a separate process, as an outbox worker does (the concurrency test and
`bench billing_debits` start two or more). Prints "<accepted> <blocked> <seconds>".

Run: python -m billing.bench_worker TEAM_ID START STOP [--raw] [--batch N] (DATABASE_URL set). Keys are "sms:<n>"
for n in [START, STOP), so workers given overlapping ranges race on the same idempotency keys. --raw does the same
with hand-written SQL (the benchmark's reference): the conditional UPDATE … RETURNING and the INSERT in a
transaction. --batch N debits N keys per transaction with `debit_many` (a broadcast or journey batch); with --raw,
the same work by hand: one multi-row INSERT … ON CONFLICT DO NOTHING RETURNING, one conditional UPDATE by the sum,
and one UPDATE of the running balances after.
"""

import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import Team  # noqa: E402
from billing import services  # noqa: E402
from billing.models import Account, Transaction, TransactionType  # noqa: E402


def app(team, keys):
    blocked = 0
    for key in keys:
        try:
            services.debit(team, 1, type=TransactionType.SMS_DEBIT, idempotency_key=key, feature="quick_sms")
        except services.BalanceBlocked:
            blocked += 1
    return blocked


def app_batched(team, keys, size):
    blocked = 0
    for start in range(0, len(keys), size):
        chunk = keys[start : start + size]
        items = [{"amount": 1, "idempotency_key": key, "feature": "broadcast"} for key in chunk]
        try:
            services.debit_many(team, items)
        except services.BalanceBlocked:
            blocked += len(chunk)
    return blocked


def raw_batched(team, keys, size):
    account, ledger = Account._meta.db_table, Transaction._meta.db_table
    update = (
        f"UPDATE {account} SET balance = balance - %s WHERE team_id = %s AND balance >= grace_amount RETURNING balance"
    )
    blocked = 0
    with connection.cursor() as cursor:
        for start in range(0, len(keys), size):
            chunk = sorted(keys[start : start + size])
            with transaction.atomic():
                now = timezone.now()
                values = ", ".join(
                    ["(%s, 'sms_debit', -1, 0, 'sms', 'broadcast', '', 1, '', '', %s, '', %s)"] * len(chunk)
                )
                cursor.execute(
                    f"INSERT INTO {ledger} (team_id, type, amount, balance_after, product, feature, channel, quantity, "
                    f"note, reference, idempotency_key, actor, created_at) VALUES {values} "
                    "ON CONFLICT (team_id, idempotency_key) DO NOTHING RETURNING id",
                    [value for key in chunk for value in (team.pk, key, now)],
                )
                ids = [row[0] for row in cursor.fetchall()]
                if not ids:
                    continue
                cursor.execute(update, [len(ids), team.pk])
                row = cursor.fetchone()
                if row is None:
                    transaction.set_rollback(True)
                    blocked += len(chunk)
                    continue
                first = row[0] - 1 + len(ids)
                cursor.execute(
                    f"UPDATE {ledger} AS t SET balance_after = v.b FROM (SELECT unnest(%s::bigint[]) AS id, "
                    "unnest(%s::numeric[]) AS b) AS v WHERE t.id = v.id",
                    [ids, [first - i for i in range(len(ids))]],
                )
    return blocked


def raw(team, keys):
    account, ledger = Account._meta.db_table, Transaction._meta.db_table
    update = (
        f"UPDATE {account} SET balance = balance - 1 WHERE team_id = %s AND balance >= grace_amount RETURNING balance"
    )
    insert = (
        f"INSERT INTO {ledger} (team_id, type, amount, balance_after, product, feature, channel, quantity, note, "
        "reference, idempotency_key, actor, created_at) VALUES (%s, 'sms_debit', -1, %s, 'sms', 'quick_sms', '', 1, "
        "'', '', %s, '', %s)"
    )
    blocked = 0
    with connection.cursor() as cursor:
        for key in keys:
            with transaction.atomic():
                cursor.execute(update, [team.pk])
                row = cursor.fetchone()
                if row is None:
                    blocked += 1
                    continue
                cursor.execute(insert, [team.pk, row[0], key, timezone.now()])
    return blocked


if __name__ == "__main__":
    team_id, start, stop = (int(arg) for arg in sys.argv[1:4])
    team = Team.objects.get(pk=team_id)
    keys = [f"sms:{n}" for n in range(start, stop)]
    started = time.perf_counter()
    if "--batch" in sys.argv:
        size = int(sys.argv[sys.argv.index("--batch") + 1])
        blocked = (raw_batched if "--raw" in sys.argv else app_batched)(team, keys, size)
    else:
        blocked = (raw if "--raw" in sys.argv else app)(team, keys)
    print(len(keys) - blocked, blocked, f"{time.perf_counter() - started:.4f}", flush=True)
