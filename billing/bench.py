"""Benchmarks of the billing app (issue 15): SMS debits from two processes into one team's ledger, and the monthly
SMS bill of a team with 1,000,000 SMS in the month, each beside hand-written SQL doing the same work."""

import datetime
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Sum
from django.test import Client
from django.utils import timezone

from accounts.models import Membership, Team
from accounts.services import create_team
from core.benchmarks import Timer, benchmark, figure

from . import services
from .models import Account, MonthlyBill, Transaction, TransactionType, UsageMonth

ROOT = Path(__file__).resolve().parents[1]


def _team(slug):
    team = Team.objects.filter(slug=slug).first() or create_team(slug=slug, name=slug)
    for model in (MonthlyBill, UsageMonth, Transaction, Account):
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
    _fill(team, *services.month_bounds(team, month), n)


def _fill(team, start, end, n):
    """n SMS debits spread evenly over [start, end), written with one INSERT … SELECT generate_series."""
    seconds = int((end - start).total_seconds())
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {Transaction._meta.db_table} (team_id, type, amount, balance_after, product, feature, channel,
                quantity, note, reference, idempotency_key, actor, created_at)
            SELECT %s, 'sms_debit', -1, -g, 'sms',
                   (ARRAY['LINE 通知快捷發送簡訊', '手機綁定發送簡訊'])[1 + g %% 2],
                   (ARRAY['LINE 官方帳號', 'Facebook 粉絲專頁', 'WhatsApp 客服專線'])[1 + g %% 3],
                   1, '', '', 'bench:' || g, '', %s + ((g - 1)::bigint * %s / %s) * interval '1 second'
            FROM generate_series(1, %s) AS g
            """,
            [team.pk, start, seconds, n, n],
        )
        cursor.execute(f"ANALYZE {Transaction._meta.db_table}")
    services.rebuild_usage(team)  # the rows were written past the services


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


@benchmark("billing_overview", help="the account overview page of a team with 1,000,000 SMS", requires_postgres=True)
def billing_overview(scale=1.0):
    """The console 帳戶總覽 (default: the last 12 months of usage, the first ledger page) of a team with 1,000,000 SMS
    over the last year, server side, beside its queries by hand: the usage read from the monthly rollup (what the
    page runs), the same usage as a GROUP BY over the ledger (what it ran before the rollup), the ledger page and a
    ledger COUNT (which the page does not run)."""
    n = max(1000, int(1_000_000 * scale))
    team = _team("bench-overview")
    now = timezone.now()
    _fill(team, now - datetime.timedelta(days=360), now, n)
    user, _created = get_user_model().objects.get_or_create(username="bench-billing@example.com")
    Membership.objects.get_or_create(team=team, user=user, defaults={"role": "owner"})
    client = Client()
    client.force_login(user)
    assert client.get("/billing/").status_code == 200
    timer = Timer()
    for _ in range(5):
        with timer:
            response = client.get("/billing/")
        assert response.status_code == 200
    yield figure("page_p50", timer.median * 1000, "ms", n=n)
    table = Transaction._meta.db_table
    start = now - datetime.timedelta(days=366)
    queries = {
        "usage_rollup": (
            f"SELECT month, product, feature, channel, quantity, amount FROM {UsageMonth._meta.db_table} "
            "WHERE team_id = %s AND month >= %s AND product <> '' ORDER BY 1 DESC, 2, 3, 4",
            [team.pk, services.usage_month(team, start)],
        ),
        "usage_ledger_group_by": (
            f"SELECT date_trunc('month', created_at AT TIME ZONE %s), product, feature, channel, SUM(quantity), "
            f"SUM(amount) FROM {table} WHERE team_id = %s AND created_at >= %s AND product <> '' "
            "GROUP BY 1, 2, 3, 4 ORDER BY 1 DESC, 2, 3, 4",
            [team.time_zone, team.pk, start],
        ),
        "ledger_page": (
            f"SELECT * FROM {table} WHERE team_id = %s ORDER BY created_at DESC, id DESC LIMIT 50",
            [team.pk],
        ),
        "ledger_count": (f"SELECT COUNT(*) FROM {table} WHERE team_id = %s", [team.pk]),
    }
    for name, (sql, params) in queries.items():
        timer = Timer()
        for _ in range(5):
            with timer, connection.cursor() as cursor:
                cursor.execute(sql, params)
                cursor.fetchall()
        yield figure(f"{name}_p50", timer.median * 1000, "ms", n=n, reference="raw_sql")
