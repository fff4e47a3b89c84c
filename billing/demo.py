"""seed_demo hook: the demo team's account balance, a ledger (the SMS credit migration, top-ups, a month and a bit
of SMS debits with a few refunds), and last month's SMS bill. Rebuilt from scratch on every run (written in bulk;
the balance is the ledger's last balance_after, so balance == Σ ledger; refunds link their debits)."""

import datetime
from decimal import Decimal

from . import services
from .models import Account, LowBalanceNotice, MonthlyBill, Product, Transaction, TransactionType

FEATURES = [("LINE 通知快捷發送簡訊", 0.7), ("手機綁定發送簡訊", 0.3)]
CHANNELS = [("LINE 官方帳號", 0.6), ("Facebook 粉絲專頁", 0.25), ("WhatsApp 客服專線", 0.15)]


def _pick(rng, weighted):
    return rng.choices([value for value, _w in weighted], weights=[w for _v, w in weighted])[0]


def seed(team, rng, *, now):
    for model in (LowBalanceNotice, MonthlyBill, Transaction, Account):
        model.objects.filter(team=team).delete()
    if not team.billing_email:
        team.billing_email = "billing@demo.example"
        team.save(update_fields=["billing_email"])
    last_month = services.previous_month(team, now)
    start, _end = services.month_bounds(team, last_month)
    rows, balance = [], Decimal("0")

    def add(at, type_, amount, **fields):
        nonlocal balance
        balance += amount
        rows.append(
            Transaction(
                team=team,
                type=type_,
                amount=amount,
                balance_after=balance,
                created_at=at,
                idempotency_key=fields.pop("key", f"demo:{len(rows)}"),
                **fields,
            )
        )
        return rows[-1]

    add(
        start - datetime.timedelta(days=2),
        TransactionType.ADJUSTMENT,
        Decimal("1000"),
        note="SMS 簡訊餘額移轉",
        actor="migrate_sms_credits",
        key=services.SMS_CREDIT_MIGRATION_KEY,
    )
    add(
        start + datetime.timedelta(hours=10),
        TransactionType.TOP_UP,
        Decimal("3000"),
        note="銀行匯款",
        actor="admin:ops",
    )
    at, refunds = start + datetime.timedelta(hours=11), []
    topped_up_at = start + datetime.timedelta(days=19)  # a second top-up on the 20th
    while at < now:
        at += datetime.timedelta(minutes=rng.randint(20, 160))
        feature, channel = _pick(rng, FEATURES), _pick(rng, CHANNELS)
        parts = 2 if rng.random() < 0.1 else 1  # a long message is several 則
        debit = add(
            at,
            TransactionType.SMS_DEBIT,
            Decimal(-parts),
            product=Product.SMS,
            feature=feature,
            channel=channel,
            quantity=parts,
            reference=f"demo-outbox:{len(rows)}",
            actor="system",
        )
        if rng.random() < 0.02:  # the provider rejected it: refunded a minute later
            refund = add(
                at + datetime.timedelta(minutes=1),
                TransactionType.REFUND,
                -debit.amount,
                product=Product.SMS,
                feature=feature,
                channel=channel,
                quantity=-parts,
                reference=debit.reference,
                note="供應商拒絕發送",
                actor="system",
                key=f"refund:{debit.idempotency_key}",
            )
            refunds.append((refund, debit))
        if at >= topped_up_at:
            add(at, TransactionType.TOP_UP, Decimal("1000"), note="銀行匯款", actor="admin:ops")
            topped_up_at = now
    Transaction.objects.bulk_create(rows, batch_size=2000)
    Account.objects.create(
        team=team,
        balance=balance,
        low_balance_threshold=Decimal("500"),
        grace_amount=Decimal("0"),
        sms_credits_migrated_at=start - datetime.timedelta(days=2),
    )
    for refund, debit in refunds:  # bulk_create set the ids
        refund.refund_of = debit
    Transaction.objects.bulk_update([refund for refund, _debit in refunds], ["refund_of"], batch_size=500)
    services.rebuild_usage(team)  # the rows above were written in bulk, past the services
    services.create_monthly_bill(team, last_month)
