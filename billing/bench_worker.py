"""Debits one team's balance from a separate process, as an outbox worker does (the concurrency test and
`bench billing_debits` start two or more). Prints "<accepted> <blocked> <seconds>".
Run: python -m billing.bench_worker TEAM_ID START STOP [--raw] (DATABASE_URL set). Keys are "sms:<n>" for n in
[START, STOP), so workers given overlapping ranges race on the same idempotency keys. --raw does the same with
hand-written SQL (the benchmark's reference): the conditional UPDATE … RETURNING and the INSERT in a transaction.
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
    blocked = (raw if "--raw" in sys.argv else app)(team, keys)
    print(len(keys) - blocked, blocked, f"{time.perf_counter() - started:.4f}", flush=True)
