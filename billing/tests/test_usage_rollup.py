"""The monthly usage rollup (UsageMonth) against the live GROUP BY over the ledger it replaced: for a random ledger
(SMS and WhatsApp debits, single and batched, refunds in the same or a later month, teams in several time zones,
writes around month boundaries) the usage statistics read from the rollup equal the old query's, row for row."""

import datetime
import random
import zoneinfo
from decimal import Decimal
from importlib import import_module
from types import SimpleNamespace
from unittest import mock

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.db.models import Sum
from django.db.models.functions import TruncMonth
from django.test.utils import CaptureQueriesContext

from billing import services, usage
from billing.models import Product, Transaction, TransactionType, UsageMonth
from tests.factories import TeamFactory

ZONES = ["Asia/Taipei", "America/Los_Angeles", "UTC", "Asia/Kolkata", "Pacific/Auckland"]
FEATURES = ["LINE 通知快捷發送簡訊", "手機綁定發送簡訊", "journey"]
CHANNELS = ["LINE 官方帳號", "Facebook 粉絲專頁", ""]


def reference_usage_rows(team, *, product="", month_from, month_to):
    """The usage query before the rollup (billing/usage.py until issue 15's rollup): one GROUP BY on the ledger
    by team-local month. Kept here as the reference the rollup must equal."""
    tz = zoneinfo.ZoneInfo(team.time_zone)
    start, _end = services.month_bounds(team, month_from)
    _start, end = services.month_bounds(team, month_to)
    queryset = Transaction.objects.for_team(team).filter(created_at__gte=start, created_at__lt=end)
    queryset = queryset.filter(product=product) if product else queryset.exclude(product=Product.NONE)
    rows = (
        queryset.annotate(month=TruncMonth("created_at", tzinfo=tz))
        .values("month", "product", "feature", "channel")
        .annotate(quantity=Sum("quantity"), amount=Sum("amount"))
        .order_by("-month", "product", "feature", "channel")
    )
    return [
        {
            "month": row["month"].date() if isinstance(row["month"], datetime.datetime) else row["month"],
            "product": row["product"],
            "feature": row["feature"],
            "channel": row["channel"],
            "quantity": int(row["quantity"] or 0),
            "amount": -(row["amount"] or 0) + 0,
        }
        for row in rows
    ]


def _instant(rng):
    """A time in 2026-01 … 2026-06, half of them within 14 hours of a UTC month boundary (another month in
    some of the zones)."""
    if rng.random() < 0.5:
        month = rng.randint(2, 7)
        boundary = datetime.datetime(2026, month, 1, tzinfo=datetime.UTC)
        return boundary + datetime.timedelta(minutes=rng.randint(-14 * 60, 14 * 60))
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    return start + datetime.timedelta(seconds=rng.randint(0, 180 * 86400))


def _at(instant):
    return mock.patch("django.utils.timezone.now", return_value=instant)


def _random_ledger(team, rng):
    with _at(datetime.datetime(2025, 12, 1, tzinfo=datetime.UTC)):
        services.credit(team, 100000, type=TransactionType.TOP_UP, idempotency_key="top-up")
    keys = []
    for step in range(60):
        instant = _instant(rng)
        kind = rng.random()
        with _at(instant):
            if kind < 0.35:
                items = [
                    {
                        "amount": Decimal(rng.choice(["1", "2", "0.35", "1.2345"])),
                        "type": rng.choice([TransactionType.SMS_DEBIT, TransactionType.WHATSAPP_DEBIT]),
                        "idempotency_key": f"b{step}:{i}",
                        "feature": rng.choice(FEATURES),
                        "channel": rng.choice(CHANNELS),
                        "quantity": rng.randint(1, 3),
                    }
                    for i in range(rng.randint(1, 8))
                ]
                items.append(dict(items[0]))  # a key repeated in the batch debits once
                keys += [txn.idempotency_key for txn in services.debit_many(team, items, force=True)]
            elif kind < 0.7:
                txn = services.debit(
                    team,
                    rng.randint(1, 4),
                    type=TransactionType.SMS_DEBIT,
                    idempotency_key=f"s{step}",
                    feature=rng.choice(FEATURES),
                    channel=rng.choice(CHANNELS),
                    quantity=rng.randint(1, 4),
                    force=True,
                )
                keys.append(txn.idempotency_key)
                services.debit(team, 1, type=TransactionType.SMS_DEBIT, idempotency_key=f"s{step}")  # no-op
            elif kind < 0.9 and keys:
                of_key = rng.choice(keys)
                services.refund(team, idempotency_key=f"r{step}", of_key=of_key)
                services.refund(team, idempotency_key=f"r{step}-again", of_key=of_key)  # refunded once
            else:
                services.credit(team, 5, type=TransactionType.ADJUSTMENT, idempotency_key=f"a{step}")


@pytest.mark.parametrize("seed", range(4))
def test_the_rollup_equals_the_ledger_group_by(db, seed):
    rng = random.Random(seed)
    teams = [TeamFactory(slug=f"usage-{seed}-{i}", time_zone=zone) for i, zone in enumerate(rng.sample(ZONES, 3))]
    for team in teams:
        _random_ledger(team, rng)
    assert UsageMonth.objects.exists()
    ranges = [
        (datetime.date(2025, 12, 1), datetime.date(2026, 8, 1)),
        (datetime.date(2026, 2, 1), datetime.date(2026, 3, 1)),
        (datetime.date(2026, 4, 1), datetime.date(2026, 4, 1)),
    ]
    for team in teams:
        for month_from, month_to in ranges:
            for product in ("", Product.SMS, Product.WHATSAPP):
                expected = reference_usage_rows(team, product=product, month_from=month_from, month_to=month_to)
                got = usage.usage_rows(team, product=product, month_from=month_from, month_to=month_to)
                assert got == expected, (team.time_zone, month_from, month_to, product)
                assert "".join(usage.usage_csv(team, got)) == "".join(usage.usage_csv(team, expected))
        # rebuilding from the ledger (demo data, back-dated rows, the migration's backfill) gives the same rollup
        before = sorted(
            UsageMonth.objects.filter(team=team).values_list(
                "month", "product", "feature", "channel", "quantity", "amount"
            )
        )
        services.rebuild_usage(team)
        after = sorted(
            UsageMonth.objects.filter(team=team).values_list(
                "month", "product", "feature", "channel", "quantity", "amount"
            )
        )
        assert after == before


def test_a_ledger_write_updates_the_rollup_with_one_upsert(team):
    services.credit(team, 100, type=TransactionType.TOP_UP, idempotency_key="t")
    items = [{"amount": 1, "idempotency_key": f"k{i}", "feature": "f", "channel": ["a", "b"][i % 2]} for i in range(10)]
    table = UsageMonth._meta.db_table
    with _at(datetime.datetime(2026, 3, 31, 16, 30, tzinfo=datetime.UTC)):  # April 1st in Taipei
        with CaptureQueriesContext(connection) as queries:
            services.debit_many(team, items)
        assert [q["sql"] for q in queries if table in q["sql"]][0].startswith(f"INSERT INTO {table}")
        assert len([q for q in queries if table in q["sql"]]) == 1
        services.refund(team, idempotency_key="r", of_key="k0")
    rows = UsageMonth.objects.filter(team=team).values_list("month", "channel", "quantity", "amount")
    april = datetime.date(2026, 4, 1)
    assert sorted(rows) == [(april, "a", 4, Decimal("4")), (april, "b", 5, Decimal("5"))]


def test_the_migration_backfills_the_rollup_from_the_ledger(team, other_team):
    other_team.time_zone = "America/Los_Angeles"
    other_team.save()
    for each in (team, other_team):
        services.credit(each, 100, type=TransactionType.TOP_UP, idempotency_key="t")
        for i, day in enumerate((1, 15, 28)):
            with _at(datetime.datetime(2026, 5, day, 3, tzinfo=datetime.UTC)):
                services.debit(each, 2, type=TransactionType.SMS_DEBIT, idempotency_key=f"s{i}", quantity=2)
        with _at(datetime.datetime(2026, 5, 20, tzinfo=datetime.UTC)):
            services.refund(each, idempotency_key="r", of_key="s1")
    expected = sorted(
        UsageMonth.objects.values_list("team", "month", "product", "feature", "channel", "quantity", "amount")
    )
    UsageMonth.objects.all().delete()
    migration = import_module("billing.migrations.0004_backfill_usage_month")
    migration.backfill(django_apps, SimpleNamespace(connection=connection))
    got = sorted(UsageMonth.objects.values_list("team", "month", "product", "feature", "channel", "quantity", "amount"))
    assert got == expected and len(got) == 3  # May in Taipei; April and May in Los Angeles
