"""The ledger core: balance == Σ ledger, idempotent debits and refunds, the grace block and its lifting."""

import subprocess
import sys
from decimal import Decimal

import pytest
from django.conf import settings
from django.db.models import Sum

from billing import services
from billing.models import Account, Transaction, TransactionType, UsageMonth
from tests.qcluster import ROOT, subprocess_env

SMS = TransactionType.SMS_DEBIT


def ledger_sum(team):
    return Transaction.objects.filter(team=team).aggregate(s=Sum("amount"))["s"] or Decimal("0")


def test_top_up_then_debit_keeps_balance_equal_to_the_ledger(team):
    services.credit(team, "100", type=TransactionType.TOP_UP, idempotency_key="t1", note="first", actor="ops")
    txn = services.debit(team, 1, type=SMS, idempotency_key="sms:1", reference="outbox:1", feature="quick_sms")
    assert txn.amount == Decimal("-1") and txn.balance_after == Decimal("99")
    assert txn.product == "sms" and txn.feature == "quick_sms" and txn.quantity == 1
    assert services.balance(team) == Decimal("99") == ledger_sum(team)


def test_the_same_key_never_debits_twice(team):
    services.credit(team, 10, type=TransactionType.TOP_UP, idempotency_key="t1")
    first = services.debit(team, 1, type=SMS, idempotency_key="sms:1")
    again = services.debit(team, 1, type=SMS, idempotency_key="sms:1")
    assert again.pk == first.pk
    assert services.balance(team) == Decimal("9") == ledger_sum(team)


def test_below_grace_is_blocked_and_nothing_is_debited_until_a_top_up(team):
    Account.objects.create(team=team, balance=Decimal("0"), grace_amount=Decimal("-2"))
    services.debit(team, 1, type=SMS, idempotency_key="a")  # 0 → -1
    services.debit(team, 1, type=SMS, idempotency_key="b")  # -1 → -2 (not below grace before it)
    services.debit(team, 1, type=SMS, idempotency_key="c")  # -2 → -3: -2 is not below -2
    assert services.is_blocked(team)
    with pytest.raises(services.BalanceBlocked) as blocked:
        services.debit(team, 1, type=SMS, idempotency_key="d")
    assert isinstance(blocked.value, ValueError) and "寬限" in str(blocked.value)
    assert not Transaction.objects.filter(team=team, idempotency_key="d").exists()
    assert services.balance(team) == Decimal("-3") == ledger_sum(team)
    services.credit(team, 5, type=TransactionType.TOP_UP, idempotency_key="top")
    assert not services.is_blocked(team)
    services.debit(team, 1, type=SMS, idempotency_key="d")
    assert services.balance(team) == Decimal("1") == ledger_sum(team)


def test_a_new_team_has_no_account_and_is_not_blocked(team):
    assert services.balance(team) == Decimal("0") and not services.is_blocked(team)


def test_refund_gives_the_debit_back_once(team):
    services.credit(team, 10, type=TransactionType.TOP_UP, idempotency_key="t")
    debit = services.debit(
        team, 3, type=SMS, idempotency_key="sms:9", feature="phone_binding", channel="LINE A", quantity=3
    )
    refund = services.refund(team, idempotency_key="refund:sms:9", of_key="sms:9", note="provider rejected")
    assert refund.type == TransactionType.REFUND and refund.amount == Decimal("3") and refund.refund_of_id == debit.pk
    assert (refund.feature, refund.channel, refund.quantity, refund.product) == ("phone_binding", "LINE A", -3, "sms")
    assert services.refund(team, idempotency_key="refund:sms:9", of_key="sms:9").pk == refund.pk
    assert services.refund(team, idempotency_key="other-key", of_key="sms:9").pk == refund.pk
    assert services.balance(team) == Decimal("10") == ledger_sum(team)


def test_refund_of_an_unknown_or_other_teams_debit_is_refused(team, other_team):
    services.debit(other_team, 1, type=SMS, idempotency_key="sms:1")
    with pytest.raises(services.BillingError):
        services.refund(team, idempotency_key="r", of_key="sms:1")
    services.credit(team, 5, type=TransactionType.TOP_UP, idempotency_key="t")
    with pytest.raises(services.BillingError):
        services.refund(team, idempotency_key="r", of_key="t")  # a top-up is not a debit


@pytest.mark.parametrize(
    ("call", "kwargs"),
    [
        (services.debit, {"amount": 0, "type": SMS}),
        (services.debit, {"amount": -1, "type": SMS}),
        (services.debit, {"amount": "abc", "type": SMS}),
        (services.debit, {"amount": "1.00001", "type": SMS}),
        (services.debit, {"amount": "NaN", "type": SMS}),
        (services.debit, {"amount": 1, "type": TransactionType.TOP_UP}),
        (services.credit, {"amount": -1, "type": TransactionType.TOP_UP}),
        (services.credit, {"amount": 1, "type": SMS}),
        (services.credit, {"amount": 0, "type": TransactionType.ADJUSTMENT}),
    ],
)
def test_bad_amounts_and_types_are_refused_and_change_nothing(team, call, kwargs):
    with pytest.raises(services.BillingError):
        call(team, idempotency_key="k", **kwargs)
    assert not Transaction.objects.filter(team=team).exists() and services.balance(team) == 0


def test_an_empty_idempotency_key_is_refused(team):
    with pytest.raises(services.BillingError):
        services.debit(team, 1, type=SMS, idempotency_key=" ")


def test_a_negative_adjustment_is_allowed(team):
    services.credit(team, "-2.5", type=TransactionType.ADJUSTMENT, idempotency_key="adj")
    assert services.balance(team) == Decimal("-2.5") == ledger_sum(team)


def test_keys_are_per_team(team, other_team):
    services.debit(team, 1, type=SMS, idempotency_key="sms:1")
    services.debit(other_team, 1, type=SMS, idempotency_key="sms:1")
    assert services.balance(team) == services.balance(other_team) == Decimal("-1")


def _items(keys, **extra):
    return [{"amount": 1, "idempotency_key": key, "feature": "broadcast", **extra} for key in keys]


def test_debit_many_writes_running_balances_and_skips_keys_already_debited(team):
    services.credit(team, 10, type=TransactionType.TOP_UP, idempotency_key="t")
    services.debit(team, 1, type=SMS, idempotency_key="sms:2")
    created = services.debit_many(
        team, _items(["sms:1", "sms:2", "sms:3", "sms:3"]) + [{"amount": 2, "idempotency_key": "sms:4", "quantity": 2}]
    )
    assert [txn.idempotency_key for txn in created] == ["sms:1", "sms:3", "sms:4"]
    assert [txn.balance_after for txn in created] == [Decimal("8"), Decimal("7"), Decimal("5")]
    stored = {t.idempotency_key: t.balance_after for t in Transaction.objects.filter(team=team, type=SMS)}
    assert stored == {"sms:1": Decimal("8"), "sms:2": Decimal("9"), "sms:3": Decimal("7"), "sms:4": Decimal("5")}
    assert services.debit_many(team, _items(["sms:1", "sms:4"])) == []
    assert services.balance(team) == Decimal("5") == ledger_sum(team)


def test_debit_many_is_refused_as_a_whole_below_grace_and_allowed_as_a_whole_above(team):
    services.credit(team, 1, type=TransactionType.TOP_UP, idempotency_key="t")  # grace amount 0
    services.debit_many(team, _items(["a", "b", "c"]))  # 1 is not below 0: the whole batch, to -2
    assert services.balance(team) == Decimal("-2") == ledger_sum(team)
    with pytest.raises(services.BalanceBlocked):
        services.debit_many(team, _items(["d", "e"]))
    assert not Transaction.objects.filter(team=team, idempotency_key__in=["d", "e"]).exists()
    assert services.balance(team) == Decimal("-2") == ledger_sum(team)
    # A batch made only of keys already debited is a replay: nothing to do, not blocked.
    assert services.debit_many(team, _items(["a", "b"])) == []


def test_debit_many_refuses_a_bad_item_and_changes_nothing(team):
    with pytest.raises(services.BillingError):
        services.debit_many(team, _items(["a"]) + [{"amount": 0, "idempotency_key": "b"}])
    with pytest.raises(services.BillingError):
        services.debit_many(team, _items(["a"]) + [{"amount": 1, "idempotency_key": ""}])
    assert not Transaction.objects.filter(team=team).exists() and services.balance(team) == 0


def test_forced_debit_is_recorded_below_grace(team):
    """A send the provider already accepted (extra segments, WhatsApp prepaid) is billed even when blocked."""
    services.credit(team, -5, type=TransactionType.ADJUSTMENT, idempotency_key="adj")  # grace amount 0
    with pytest.raises(services.BalanceBlocked):
        services.debit(team, 1, type=SMS, idempotency_key="x")
    txn = services.debit(team, 1, type=SMS, idempotency_key="x", force=True)
    assert txn.balance_after == Decimal("-6") and services.balance(team) == Decimal("-6") == ledger_sum(team)
    assert services.debit(team, 1, type=SMS, idempotency_key="x", force=True).pk == txn.pk


def assert_rollup_equals_usage_ledger(team):
    """Σ of the monthly usage rollup == Σ of the usage rows of the ledger (those with a product), per key."""
    key = ("product", "feature", "channel")
    ledger = Transaction.objects.filter(team=team).exclude(product="").values(*key)
    ledger = {tuple(r[k] for k in key): (r["q"], -r["a"]) for r in ledger.annotate(q=Sum("quantity"), a=Sum("amount"))}
    rollup = UsageMonth.objects.filter(team=team).values(*key)
    rollup = {tuple(r[k] for k in key): (r["q"], r["a"]) for r in rollup.annotate(q=Sum("quantity"), a=Sum("amount"))}
    assert rollup == ledger and ledger


@pytest.mark.postgres
@pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL (several processes, row locks)")
@pytest.mark.django_db(transaction=True)
def test_concurrent_debits_from_several_processes_keep_balance_equal_to_the_ledger(team):
    services.credit(team, 500, type=TransactionType.TOP_UP, idempotency_key="top-up")
    # Three processes, overlapping key ranges: every key is tried by two of them; 600 keys, 500 of balance.
    ranges = [(0, 400), (200, 600), (0, 600)]
    env = subprocess_env("billing-test", "billing-debit")
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "billing.bench_worker", str(team.pk), str(start), str(stop)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for start, stop in ranges
    ]
    outputs = [worker.communicate(timeout=300)[0] for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), outputs
    ledger = Transaction.objects.filter(team=team)
    keys = list(ledger.values_list("idempotency_key", flat=True))
    assert len(keys) == len(set(keys))
    account = Account.objects.get(team=team)
    assert account.balance == ledger_sum(team)
    # A debit is allowed while the balance is not below grace (0): 501 go through (the last takes it to -1).
    debits = ledger.filter(type=SMS)
    assert debits.count() == 501 and account.balance == Decimal("-1")
    # The balances after are gap-free: every debit saw the one before it.
    assert sorted(debits.values_list("balance_after", flat=True)) == [Decimal(n) for n in range(-1, 500)]
    assert_rollup_equals_usage_ledger(team)


@pytest.mark.postgres
@pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL (several processes, row locks)")
@pytest.mark.django_db(transaction=True)
def test_concurrent_batched_debits_from_several_processes_keep_balance_equal_to_the_ledger(team):
    """debit_many from three processes, 37 per batch, overlapping keys: no key twice, balance == Σ ledger, and the
    running balances after are gap-free (each batch saw the one before it)."""
    services.credit(team, 100000, type=TransactionType.TOP_UP, idempotency_key="top-up")
    ranges = [(0, 1500), (700, 2200), (0, 2200)]
    env = subprocess_env("billing-test", "billing-debit-many")
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "billing.bench_worker", str(team.pk), str(start), str(stop), "--batch", "37"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for start, stop in ranges
    ]
    outputs = [worker.communicate(timeout=300)[0] for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), outputs
    ledger = Transaction.objects.filter(team=team)
    keys = list(ledger.values_list("idempotency_key", flat=True))
    assert len(keys) == len(set(keys))
    account = Account.objects.get(team=team)
    debits = ledger.filter(type=SMS)
    assert debits.count() == 2200 and account.balance == ledger_sum(team) == Decimal(100000 - 2200)
    assert sorted(debits.values_list("balance_after", flat=True)) == [Decimal(n) for n in range(97800, 100000)]
    assert_rollup_equals_usage_ledger(team)


def test_a_team_with_refunds_can_be_deleted(team):
    services.debit(team, 1, type=SMS, idempotency_key="sms:1")
    services.refund(team, idempotency_key="r", of_key="sms:1")
    team.delete()
    assert not Transaction.objects.exists()
