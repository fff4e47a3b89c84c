import datetime
import random
from decimal import Decimal

from django.db.models import Sum

from billing import demo, services
from billing.models import MonthlyBill, Transaction


def test_the_demo_team_has_a_balance_a_ledger_a_month_of_sms_and_a_bill(team):
    now = datetime.datetime(2026, 12, 3, tzinfo=datetime.UTC)
    for _run in range(2):  # seed_demo --flush runs it again: rebuilt, not doubled
        demo.seed(team, random.Random("1:billing"), now=now)
    ledger = Transaction.objects.filter(team=team)
    assert services.balance(team) == ledger.aggregate(s=Sum("amount"))["s"] > Decimal("500")
    assert ledger.filter(note="SMS 簡訊餘額移轉").count() == 1 and ledger.filter(type="refund").exists()
    november = ledger.filter(type="sms_debit", created_at__month=11)
    assert november.count() > 200 and len({txn.created_at.day for txn in november}) >= 28
    bill = MonthlyBill.objects.get(team=team)
    assert bill.month == datetime.date(2026, 11, 1) and bill.quantity > 200 and len(bill.lines) == 6


def test_the_demo_ledger_is_a_consistent_running_balance(team):
    demo.seed(team, random.Random("2:billing"), now=datetime.datetime(2026, 12, 3, tzinfo=datetime.UTC))
    running = Decimal("0")
    for txn in Transaction.objects.filter(team=team).order_by("id"):
        running += txn.amount
        assert txn.balance_after == running
    refunds = Transaction.objects.filter(team=team, type="refund")
    assert refunds.exists() and not refunds.filter(refund_of=None).exists()
