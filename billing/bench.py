"""Benchmarks of the billing app (issue 15): SMS debits from two processes into one team's ledger, and the monthly
SMS bill of a team with 1,000,000 SMS in the month, each beside hand-written SQL doing the same work."""

import datetime
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from django.db import connection
from django.db.models import Sum

from accounts.models import Team
from accounts.services import create_team
from core.benchmarks import benchmark, figure

from . import services
from .models import Account, MonthlyBill, Transaction, TransactionType

ROOT = Path(__file__).resolve().parents[1]


def _team(slug):
    team = Team.objects.filter(slug=slug).first() or create_team(slug=slug, name=slug)
    for model in (MonthlyBill, Transaction, Account):
        model.objects.filter(team=team).delete()
    return team


def _run_workers(team, n, *extra):
    """Two processes, each debiting n/2 distinct keys; the rate is debits over the slower one's loop time."""
    half = n // 2
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "billing.bench_worker", str(team.pk), str(i * half), str((i + 1) * half), *extra],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    results = [worker.communicate()[0].split() for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), results
    accepted = sum(int(result[0]) for result in results)
    return accepted, max(float(result[2]) for result in results)


BATCH = 100


@benchmark("billing_debits", help="SMS debits from 2 processes into one team's ledger", requires_postgres=True)
def billing_debits(scale=1.0):
    """One debit per transaction (a quick SMS: fsync-bound, so 2,000 of them) and 20,000 in `debit_many` batches of
    100 per transaction (a broadcast or journey batch), each beside hand-written SQL doing the same work."""
    single, batched = max(200, int(2000 * scale)), max(200, int(20000 * scale))
    runs = (
        (None, 1, ()),
        ("raw_sql", 1, ("--raw",)),
        (None, BATCH, ("--batch", str(BATCH))),
        ("raw_sql", BATCH, ("--raw", "--batch", str(BATCH))),
    )
    for reference, batch, extra in runs:
        n = single if batch == 1 else batched
        team = _team("bench-billing")
        services.credit(team, n * 10, type=TransactionType.TOP_UP, idempotency_key="bench-top-up")
        accepted, seconds = _run_workers(team, n, *extra)
        ledger = Transaction.objects.filter(team=team).aggregate(s=Sum("amount"))["s"]
        consistent = Account.objects.get(team=team).balance == ledger
        assert accepted == n and consistent, (accepted, n, ledger)
        yield figure(
            "debits_per_second",
            accepted / seconds,
            "debits/s",
            n=n,
            batch=batch,
            reference=reference,
            balance_eq_ledger=consistent,
        )


def _fill_month(team, month, n):
    """n SMS debits spread over the team-local month, written with one INSERT … SELECT generate_series."""
    start, end = services.month_bounds(team, month)
    seconds = int((end - start).total_seconds())
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {Transaction._meta.db_table} (team_id, type, amount, balance_after, product, feature, channel,
                quantity, note, reference, idempotency_key, actor, created_at)
            SELECT %s, 'sms_debit', -1, -g, 'sms',
                   (ARRAY['LINE 通知快捷發送簡訊', '手機綁定發送簡訊'])[1 + g %% 2],
                   (ARRAY['LINE 官方帳號', 'Facebook 粉絲專頁', 'WhatsApp 客服專線'])[1 + g %% 3],
                   1, '', '', 'bench:' || g, '', %s + (g %% %s) * interval '1 second'
            FROM generate_series(1, %s) AS g
            """,
            [team.pk, start, seconds, n],
        )
        cursor.execute(f"ANALYZE {Transaction._meta.db_table}")


@benchmark("billing_monthly_bill", help="the monthly SMS bill of a team with 1,000,000 SMS", requires_postgres=True)
def billing_monthly_bill(scale=1.0):
    n = max(1000, int(1_000_000 * scale))
    team = _team("bench-bill")
    month = datetime.date(2026, 10, 1)
    _fill_month(team, month, n)
    started = time.perf_counter()
    bill = services.create_monthly_bill(team, month)
    seconds = time.perf_counter() - started
    assert bill.quantity == n and bill.amount == Decimal(n), (bill.quantity, bill.amount)
    yield figure("bill_seconds", seconds, "s", n=n)
    start, end = services.month_bounds(team, month)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT feature, channel, SUM(quantity), -SUM(amount) FROM {Transaction._meta.db_table} "
            "WHERE team_id = %s AND product = 'sms' AND created_at >= %s AND created_at < %s "
            "GROUP BY feature, channel ORDER BY feature, channel",
            [team.pk, start, end],
        )
        rows = cursor.fetchall()
    assert sum(row[2] for row in rows) == n
    yield figure("bill_seconds", time.perf_counter() - started, "s", n=n, reference="raw_sql")
