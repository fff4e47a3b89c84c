"""Money operations on a team's account balance (帳戶餘額). Everything that changes the balance goes through here.

The balance is Σ of the ledger: every change is a conditional `UPDATE … RETURNING` on the team's account row and
the ledger row appended in the same database transaction, so the row lock is taken by one statement and the
balance is never read in Python and written back. The same idempotency key never changes the balance twice (a
unique constraint per team); a second call returns the first call's Transaction.
"""

import datetime
import logging
import zoneinfo
from decimal import Decimal, InvalidOperation

from django.core.mail import EmailMultiAlternatives, send_mail
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, Sum
from django.db.models.functions import TruncMonth
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Team
from core.csv_lines import BOM, CsvLines

from .models import (
    DEBIT_PRODUCT,
    Account,
    LowBalanceNotice,
    MonthlyBill,
    Product,
    Transaction,
    TransactionType,
    UsageMonth,
)

logger = logging.getLogger(__name__)

DEBIT_TYPES = frozenset(DEBIT_PRODUCT)
CREDIT_TYPES = frozenset({TransactionType.TOP_UP, TransactionType.ADJUSTMENT})
MAX_AMOUNT = Decimal("1000000000")
CENT = Decimal("0.0001")
SMS_CREDIT_MIGRATION_NOTE = "SMS 簡訊餘額移轉"  # seed 004, exactly; stored as data, never translated
SMS_CREDIT_MIGRATION_KEY = "sms_credit_migration"


class BillingError(ValueError):
    """A billing operation that cannot be done as asked (bad amount, unknown type, nothing to refund)."""

    code = "billing_error"


class BalanceBlocked(BillingError):
    """The balance is below the team's grace amount (最低寬限金額): paid features are refused, nothing debited."""

    code = "balance_blocked"

    def __init__(self, team=None, balance=None):
        super().__init__(_("帳戶餘額不足：餘額已低於最低寬限金額，請先儲值後再使用簡訊功能。"))
        self.team, self.balance = team, balance


def _money(amount, *, field="amount"):
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, TypeError, ValueError):
        raise BillingError(_("金額必須是數字：%(value)s") % {"value": amount}) from None
    if not value.is_finite() or abs(value) > MAX_AMOUNT:
        raise BillingError(_("金額必須是有限的數字，且不超過 %(max)s。") % {"max": MAX_AMOUNT})
    if value != value.quantize(CENT):
        raise BillingError(_("金額最多四位小數：%(value)s") % {"value": amount})
    return value.quantize(CENT)


def _decimal(value):
    """A balance read back from SQL (SQLite returns a number, PostgreSQL a Decimal) as a Decimal at 4 places."""
    return value if isinstance(value, Decimal) else Decimal(str(value)).quantize(CENT)


def get_account(team):
    """The team's account row, created at zero on first use."""
    account, _created = Account.objects.get_or_create(team=team)
    return account


def balance(team):
    return Account.objects.filter(team=team).values_list("balance", flat=True).first() or Decimal("0")


def is_blocked(team):
    """Below the grace amount: the SMS features are refused until a top-up (which lifts the block at once)."""
    account = Account.objects.filter(team=team).only("balance", "grace_amount").first()
    return account is not None and account.blocked


def _apply(team, delta, *, conditional):
    """Add `delta` to the balance in one statement; with `conditional`, only while the balance is not below the
    grace amount. Returns (balance_after, low_balance_threshold) or None when the condition failed."""
    table = Account._meta.db_table
    condition = " AND balance >= grace_amount" if conditional else ""
    sql = (
        f"UPDATE {table} SET balance = balance + %s, updated_at = %s WHERE team_id = %s{condition} "
        "RETURNING balance, low_balance_threshold"
    )
    for _attempt in range(2):
        with connection.cursor() as cursor:
            cursor.execute(sql, [delta, timezone.now(), team.pk])
            row = cursor.fetchone()
        if row is not None:
            return _decimal(row[0]), _decimal(row[1])
        if Account.objects.filter(team=team).exists():
            return None
        get_account(team)
    return None


def _by_key(team, idempotency_key):
    return Transaction.objects.filter(team=team, idempotency_key=idempotency_key).first()


def _append(team, delta, *, conditional, **fields):
    """Change the balance and append its ledger row atomically; on a duplicate key return the existing row."""
    existing = _by_key(team, fields["idempotency_key"])
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            applied = _apply(team, delta, conditional=conditional)
            if applied is None:
                raise BalanceBlocked(team)
            balance_after, threshold = applied
            txn = Transaction.objects.create(
                team=team, amount=delta, balance_after=balance_after, created_at=timezone.now(), **fields
            )
            _add_usage(team, [fields | {"amount": delta, "created_at": txn.created_at}])
    except IntegrityError:
        existing = _by_key(team, fields["idempotency_key"])
        if existing is None and fields.get("refund_of") is not None:
            existing = Transaction.objects.filter(team=team, refund_of=fields["refund_of"]).first()
        if existing is None:
            raise
        return existing, False
    if balance_after < threshold:
        transaction.on_commit(lambda: notify_low_balance(team), robust=True)
    return txn, True


def usage_month(team, at):
    """The first day of the team-local month of `at`: the month a ledger row's usage counts in."""
    return timezone.localdate(at, timezone=zoneinfo.ZoneInfo(team.time_zone)).replace(day=1)


def _add_usage(team, rows):
    """Add ledger rows just written (dicts with product, feature, channel, quantity, signed amount, created_at) to
    the monthly usage rollup, in ONE set-based UPSERT grouped by its key; rows without a product (top-ups,
    adjustments) are not usage. Called inside the ledger write's transaction, after the balance UPDATE: the
    account row lock it holds orders a team's rollup writes, so concurrent debits cannot deadlock on them."""
    groups = {}
    for row in rows:
        if not row["product"]:
            continue
        key = (usage_month(team, row["created_at"]), str(row["product"]), row["feature"], row["channel"])
        quantity, cost = groups.get(key, (0, Decimal("0")))
        groups[key] = (quantity + int(row["quantity"]), cost - row["amount"])
    if not groups:
        return
    table = UsageMonth._meta.db_table
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, CAST(%s AS NUMERIC))"] * len(groups))
    params = [value for key, (quantity, cost) in sorted(groups.items()) for value in (team.pk, *key, quantity, cost)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (team_id, month, product, feature, channel, quantity, amount) VALUES {values} "
            "ON CONFLICT (team_id, month, product, feature, channel) DO UPDATE SET "
            f"quantity = {table}.quantity + excluded.quantity, amount = {table}.amount + excluded.amount",
            params,
        )


def rebuild_usage(team):
    """Recompute the team's monthly usage rollup from its ledger (one GROUP BY): for ledger rows written or
    back-dated outside this module (demo data, benchmarks, tests) and after a change of the team's time zone."""
    tz = zoneinfo.ZoneInfo(team.time_zone)
    rows = (
        Transaction.objects.filter(team=team)
        .exclude(product=Product.NONE)
        .annotate(month=TruncMonth("created_at", tzinfo=tz))
        .values("month", "product", "feature", "channel")
        .annotate(quantity=Sum("quantity"), amount=Sum("amount"))
        .order_by()
    )
    with transaction.atomic():
        UsageMonth.objects.filter(team=team).delete()
        UsageMonth.objects.bulk_create(
            [
                UsageMonth(
                    team=team,
                    month=row["month"].date() if isinstance(row["month"], datetime.datetime) else row["month"],
                    product=row["product"],
                    feature=row["feature"],
                    channel=row["channel"],
                    quantity=row["quantity"] or 0,
                    amount=-_decimal(row["amount"] or 0) + 0,
                )
                for row in rows.iterator()
            ],
            batch_size=2000,
        )


def _key(idempotency_key):
    key = str(idempotency_key or "").strip()
    if not key or len(key) > 200:
        raise BillingError(_("冪等鍵（idempotency_key）必填，且不超過 200 字元。"))
    return key


DEBIT_FIELDS = ("type", "amount", "balance_after", "product", "feature", "channel", "quantity", "note", "reference")
DEBIT_FIELDS += ("idempotency_key", "actor", "created_at", "team_id")


def _debit_row(item, now):
    """One debit item (a dict, as `debit_many` takes it) checked and shaped as the ledger row's fields."""
    type_ = item.get("type", TransactionType.SMS_DEBIT)
    if type_ not in DEBIT_TYPES:
        raise BillingError(_("不是扣款類型：%(type)s") % {"type": type_})
    value = _money(item.get("amount"))
    if value <= 0:
        raise BillingError(_("扣款金額必須大於 0。"))
    try:
        quantity = int(item.get("quantity", 1))
    except (TypeError, ValueError):
        raise BillingError(_("使用量必須是整數：%(value)s") % {"value": item.get("quantity")}) from None
    return {
        "type": str(type_),
        "amount": -value,
        "product": str(DEBIT_PRODUCT[type_]),
        "feature": str(item.get("feature", ""))[:100],
        "channel": str(item.get("channel", ""))[:100],
        "quantity": quantity,
        "note": str(item.get("note", ""))[:500],
        "reference": str(item.get("reference", ""))[:200],
        "idempotency_key": _key(item.get("idempotency_key")),
        "actor": str(item.get("actor", ""))[:200],
        "created_at": now,
    }


def debit_many(team, items, *, force=False):
    """Debit many paid sends at once (a broadcast or journey batch): one transaction, one bulk INSERT of the ledger
    rows and ONE conditional UPDATE of the balance by their sum, so a batch costs one commit, not one per SMS.

    `items` are dicts with `amount` (> 0) and `idempotency_key`, and optionally `type` (default SMS 扣款),
    `feature`, `channel`, `quantity`, `reference`, `note`, `actor`. Returns the Transactions created, in order;
    a key already in the ledger (or repeated in the batch) is skipped and debits nothing (idempotent).

    The grace rule for a batch is the single debit's rule applied once: the batch goes through as a whole when the
    balance before it is not below the grace amount (so, like one debit, it may take the balance below grace by up
    to its own total), and is refused as a whole — BalanceBlocked, nothing debited — when it is. `force=True`
    records the debit even below grace: for a send the provider has already accepted (extra segments, a WhatsApp
    prepaid charge), which must be billed because it cannot be taken back.

    How balance == Σ ledger holds: the rows are inserted first with ON CONFLICT DO NOTHING on the unique
    (team, idempotency_key) — a concurrent insert of the same key waits for the other transaction and is then
    skipped — then the balance moves by the sum of what was actually inserted, in one UPDATE … RETURNING that takes
    the row lock and checks grace, and the rows get their running `balance_after` from the returned balance. Keys
    are inserted in sorted order so two batches sharing keys cannot deadlock on them."""
    now = timezone.now()
    rows, seen = [], set()
    for row in (_debit_row(item, now) for item in items):
        if row["idempotency_key"] not in seen:
            seen.add(row["idempotency_key"])
            rows.append(row)
    if not rows:
        return []
    rows.sort(key=lambda row: row["idempotency_key"])
    table = Transaction._meta.db_table
    placeholders = ", ".join(["(" + ", ".join(["%s"] * len(DEBIT_FIELDS)) + ")"] * len(rows))
    params = [
        value
        for row in rows
        for value in (*(row[f] for f in DEBIT_FIELDS[:2]), 0, *(row[f] for f in DEBIT_FIELDS[3:-1]), team.pk)
    ]
    insert = (
        f"INSERT INTO {table} ({', '.join(DEBIT_FIELDS)}) VALUES {placeholders} "
        "ON CONFLICT (team_id, idempotency_key) DO NOTHING RETURNING id, idempotency_key"
    )
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(insert, params)
            inserted = dict((key, pk) for pk, key in cursor.fetchall())
        created = [row for row in rows if row["idempotency_key"] in inserted]
        if not created:
            return []
        total = sum(row["amount"] for row in created)
        applied = _apply(team, total, conditional=not force)
        if applied is None:
            raise BalanceBlocked(team)  # rolls the inserted rows back with the atomic block
        balance_after, threshold = applied
        running = balance_after - total
        txns = []
        for row in created:
            running += row["amount"]
            txns.append(Transaction(pk=inserted[row["idempotency_key"]], team=team, balance_after=running, **row))
        _set_balances_after(txns)
        _add_usage(team, created)
    if balance_after < threshold:
        transaction.on_commit(lambda: notify_low_balance(team), robust=True)
    return txns


def _set_balances_after(txns):
    """The running balances of freshly inserted rows, in one UPDATE (a CASE keeps it portable to SQLite)."""
    table = Transaction._meta.db_table
    cases = " ".join(["WHEN %s THEN CAST(%s AS NUMERIC)"] * len(txns))
    params = [value for txn in txns for value in (txn.pk, str(txn.balance_after))]
    ids = ", ".join(["%s"] * len(txns))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET balance_after = CASE id {cases} END WHERE id IN ({ids})",
            params + [txn.pk for txn in txns],
        )


def debit(
    team,
    amount,
    *,
    type,
    idempotency_key,
    reference="",
    note="",
    actor="",
    feature="",
    channel="",
    quantity=1,
    force=False,
):
    """Take `amount` (> 0) from the balance for a paid send. Raises BalanceBlocked when the balance is below the
    team's grace amount (nothing is debited), unless `force` (a send the provider already accepted: see
    `debit_many`, whose code path this is). `feature` and `channel` are plain strings the usage statistics and
    the monthly bill group by (e.g. "quick_sms", "LINE 官方帳號"); `quantity` is the usage (SMS 則). A key already
    in the ledger returns its Transaction and debits nothing."""
    item = {
        "amount": amount,
        "type": type,
        "idempotency_key": idempotency_key,
        "reference": reference,
        "note": note,
        "actor": actor,
        "feature": feature,
        "channel": channel,
        "quantity": quantity,
    }
    created = debit_many(team, [item], force=force)
    return created[0] if created else _by_key(team, _key(idempotency_key))


def refund(team, *, idempotency_key, of_key, note=""):
    """Give back the debit recorded under `of_key` (e.g. an SMS the provider rejected), once: a second refund of
    the same debit, under any key, returns the first one."""
    key = _key(idempotency_key)
    existing = _by_key(team, key)
    if existing is not None:
        return existing
    original = _by_key(team, _key(of_key))
    if original is None or original.type not in DEBIT_TYPES:
        raise BillingError(_("找不到可退款的扣款：%(key)s") % {"key": of_key})
    already = Transaction.objects.filter(team=team, refund_of=original).first()
    if already is not None:
        return already
    txn, _created = _append(
        team,
        -original.amount,
        conditional=False,
        type=TransactionType.REFUND,
        idempotency_key=key,
        refund_of=original,
        product=original.product,
        feature=original.feature,
        channel=original.channel,
        quantity=-original.quantity,
        reference=original.reference,
        note=str(note)[:500],
        actor=original.actor,
    )
    return txn


def credit(team, amount, *, type, idempotency_key, note="", actor=""):
    """A top-up (儲值, > 0) or a balance adjustment (餘額調整, either sign). A top-up above the grace amount lifts
    the block at once: the block is only ever read from the balance."""
    if type not in CREDIT_TYPES:
        raise BillingError(_("不是儲值或調整類型：%(type)s") % {"type": type})
    value = _money(amount)
    if value == 0 or (type == TransactionType.TOP_UP and value < 0):
        raise BillingError(_("儲值金額必須大於 0；調整金額不可為 0。"))
    txn, _created = _append(
        team,
        value,
        conditional=False,
        type=type,
        idempotency_key=_key(idempotency_key),
        product=Product.NONE,
        note=str(note)[:500],
        actor=str(actor)[:200],
    )
    return txn


def notify_low_balance(team):
    """Email the team's billing email that the balance is low, at most once per team-local day (一天最多一封): the
    LowBalanceNotice row, unique per team and day, is claimed before sending, so many workers and debits send one.
    Returns the notice row, or None when today's was already sent."""
    day = timezone.localdate(timezone=zoneinfo.ZoneInfo(team.time_zone))
    if LowBalanceNotice.objects.filter(team=team, day=day).exists():
        return None
    account = get_account(team)
    if not account.low:
        return None
    try:
        with transaction.atomic():
            notice = LowBalanceNotice.objects.create(
                team=team, day=day, balance=account.balance, sent_to=team.billing_email
            )
            if team.billing_email:
                context = {"team": team, "account": account, "day": day}
                send_mail(
                    subject=_("【%(team)s】帳戶餘額過低通知") % {"team": team.name},
                    message=render_to_string("billing/email/low_balance.txt", context),
                    from_email=None,
                    recipient_list=[team.billing_email],
                    html_message=render_to_string("billing/email/low_balance.html", context),
                )
    except IntegrityError:
        return None  # another worker sent today's
    return notice


def send_due_low_balance_emails():
    """Every team whose balance is below its threshold and that has no notice for its local day yet: one
    notify_low_balance each (the same once-a-day row decides). Returns how many emails were recorded."""
    accounts = Account.objects.filter(balance__lt=F("low_balance_threshold")).select_related("team")
    return sum(1 for account in accounts if notify_low_balance(account.team) is not None)


def migrate_sms_credits(team, *, actor=""):
    """Turn the team's legacy SMS credits 1:1 into balance (seed 004): one 餘額調整 noted 「SMS 簡訊餘額移轉」.
    Idempotent: the credits are zeroed in the same transaction and the key is fixed per team, so a second run
    (command, admin action, or both at once) changes nothing. Returns the Transaction, or None."""
    get_account(team)
    with transaction.atomic():
        account = Account.objects.select_for_update().get(team=team)
        if account.sms_credits_migrated_at is not None or account.legacy_sms_credits <= 0:
            return None
        txn = credit(
            team,
            account.legacy_sms_credits,
            type=TransactionType.ADJUSTMENT,
            idempotency_key=SMS_CREDIT_MIGRATION_KEY,
            note=SMS_CREDIT_MIGRATION_NOTE,
            actor=actor or "migrate_sms_credits",
        )
        Account.objects.filter(pk=account.pk).update(legacy_sms_credits=0, sms_credits_migrated_at=timezone.now())
    return txn


def month_bounds(team, month):
    """The team-local month starting at `month` (a date, any day of it) as aware datetimes [start, end)."""
    tz = zoneinfo.ZoneInfo(team.time_zone)
    first = month.replace(day=1)
    following = (first + datetime.timedelta(days=32)).replace(day=1)
    return (
        datetime.datetime.combine(first, datetime.time.min, tzinfo=tz),
        datetime.datetime.combine(following, datetime.time.min, tzinfo=tz),
    )


def previous_month(team, now=None):
    """The first day of the month before the team's current local month."""
    today = timezone.localdate(now or timezone.now(), timezone=zoneinfo.ZoneInfo(team.time_zone))
    return (today.replace(day=1) - datetime.timedelta(days=1)).replace(day=1)


def sms_bill_lines(team, month):
    """SMS 使用量 and 費用 by feature and channel for the team-local month: one GROUP BY on the ledger (debits
    and their refunds, which carry the same feature and channel with the opposite sign)."""
    start, end = month_bounds(team, month)
    rows = (
        Transaction.objects.filter(team=team, product=Product.SMS, created_at__gte=start, created_at__lt=end)
        .values("feature", "channel")
        .annotate(quantity=Sum("quantity"), amount=Sum("amount"))
        .order_by("feature", "channel")
    )
    return [
        {
            "feature": row["feature"],
            "channel": row["channel"],
            "quantity": int(row["quantity"] or 0),
            "amount": f"{-_decimal(row['amount'] or 0) + 0:.4f}",
        }
        for row in rows
    ]


def create_monthly_bill(team, month):
    """The stored SMS bill of the team and month, made once: a second call (schedule ran twice, a worker died
    after making it) returns the first (the unique team+month constraint decides between racing workers)."""
    month = month.replace(day=1)
    existing = MonthlyBill.objects.filter(team=team, month=month).first()
    if existing is not None:
        return existing
    lines = sms_bill_lines(team, month)
    try:
        with transaction.atomic():
            return MonthlyBill.objects.create(
                team=team,
                month=month,
                currency=team.currency,
                lines=lines,
                quantity=sum(line["quantity"] for line in lines),
                amount=sum((Decimal(line["amount"]) for line in lines), Decimal("0")),
            )
    except IntegrityError:
        return MonthlyBill.objects.get(team=team, month=month)


def bill_csv(bill):
    """The bill's lines as CSV text (the email attachment and the console download)."""
    lines = CsvLines()
    out = [BOM + lines.row([_("月份"), _("功能"), _("渠道"), _("使用量"), _("費用"), _("幣別")])]
    month = f"{bill.month:%Y-%m}"
    for line in bill.lines:
        out.append(
            lines.row([month, line["feature"], line["channel"], line["quantity"], line["amount"], bill.currency])
        )
    out.append(lines.row([month, _("合計"), "", bill.quantity, f"{bill.amount:.4f}", bill.currency]))
    return "".join(out)


BILL_EMAIL_LEASE = datetime.timedelta(minutes=15)


def send_bill_email(bill, *, force=False):
    """Email the bill to the team's billing email as HTML with a CSV attachment. Exactly one sender at a time
    claims it (a lease: a worker that dies mid-send leaves it to the next run after BILL_EMAIL_LEASE); an
    emailed bill is sent again only with `force` (send_monthly_bills --month). Returns whether it was sent."""
    team = bill.team
    if not team.billing_email:
        return False
    now = timezone.now()
    claim = MonthlyBill.objects.filter(pk=bill.pk)
    if not force:
        claim = claim.filter(emailed_at__isnull=True).filter(
            Q(email_claimed_at__isnull=True) | Q(email_claimed_at__lt=now - BILL_EMAIL_LEASE)
        )
    if not claim.update(email_claimed_at=now):
        return False
    try:
        context = {"team": team, "bill": bill}
        message = EmailMultiAlternatives(
            subject=_("【%(team)s】%(month)s SMS 費用帳單") % {"team": team.name, "month": f"{bill.month:%Y-%m}"},
            body=render_to_string("billing/email/bill.txt", context),
            to=[team.billing_email],
        )
        message.attach_alternative(render_to_string("billing/email/bill.html", context), "text/html")
        message.attach(f"sms-bill-{team.slug}-{bill.month:%Y-%m}.csv", bill_csv(bill), "text/csv")
        message.send()
    except Exception:
        MonthlyBill.objects.filter(pk=bill.pk, email_claimed_at=now).update(email_claimed_at=None)
        raise
    MonthlyBill.objects.filter(pk=bill.pk).update(emailed_at=timezone.now(), emailed_to=team.billing_email)
    return True


def send_monthly_bill(team, month, *, force=False):
    """Make (once) and email the team's SMS bill for the month. Returns (bill, sent)."""
    bill = create_monthly_bill(team, month)
    return bill, send_bill_email(bill, force=force)


BILL_DAY = 3  # seed 004: 每月 3 號


def send_due_monthly_bills(now=None):
    """What the schedule runs: from the 3rd of the month in each team's time zone, the previous month's bill for
    every team that used SMS in it and has no emailed bill yet. Safe to run any number of times."""
    now = now or timezone.now()
    sent = 0
    for team in Team.objects.all().iterator():
        if timezone.localdate(now, timezone=zoneinfo.ZoneInfo(team.time_zone)).day < BILL_DAY:
            continue
        month = previous_month(team, now)
        bill = MonthlyBill.objects.filter(team=team, month=month).first()
        if bill is None:
            start, end = month_bounds(team, month)
            used = Transaction.objects.filter(
                team=team, product=Product.SMS, created_at__gte=start, created_at__lt=end
            ).exists()
            if not used:
                continue
        elif bill.emailed_at is not None:
            continue
        _bill, was_sent = send_monthly_bill(team, month)
        sent += was_sent
    return sent
