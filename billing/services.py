"""Money operations on a team's account balance (帳戶餘額). Everything that changes the balance goes through here.

The balance is Σ of the ledger: every change is a conditional `UPDATE … RETURNING` on the team's account row and
the ledger row appended in the same database transaction, so the row lock is taken by one statement and the
balance is never read in Python and written back. The same idempotency key never changes the balance twice (a
unique constraint per team); a second call returns the first call's Transaction.
"""

import logging
import zoneinfo
from decimal import Decimal, InvalidOperation

from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import DEBIT_PRODUCT, Account, LowBalanceNotice, Product, Transaction, TransactionType

logger = logging.getLogger(__name__)

DEBIT_TYPES = frozenset(DEBIT_PRODUCT)
CREDIT_TYPES = frozenset({TransactionType.TOP_UP, TransactionType.ADJUSTMENT})
MAX_AMOUNT = Decimal("1000000000")
CENT = Decimal("0.0001")
SMS_CREDIT_MIGRATION_NOTE = "SMS 簡訊餘額移轉"  # seed 004, exactly; stored as data, never translated


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
            txn = Transaction.objects.create(team=team, amount=delta, balance_after=balance_after, **fields)
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


def _key(idempotency_key):
    key = str(idempotency_key or "").strip()
    if not key or len(key) > 200:
        raise BillingError(_("冪等鍵（idempotency_key）必填，且不超過 200 字元。"))
    return key


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
):
    """Take `amount` (> 0) from the balance for a paid send. Raises BalanceBlocked when the balance is below the
    team's grace amount (nothing is debited). `feature` and `channel` are plain strings the usage statistics and
    the monthly bill group by (e.g. "quick_sms", "LINE 官方帳號"); `quantity` is the usage (SMS 則)."""
    if type not in DEBIT_TYPES:
        raise BillingError(_("不是扣款類型：%(type)s") % {"type": type})
    value = _money(amount)
    if value <= 0:
        raise BillingError(_("扣款金額必須大於 0。"))
    txn, _created = _append(
        team,
        -value,
        conditional=True,
        type=type,
        idempotency_key=_key(idempotency_key),
        product=DEBIT_PRODUCT[type],
        feature=str(feature)[:100],
        channel=str(channel)[:100],
        quantity=int(quantity),
        reference=str(reference)[:200],
        note=str(note)[:500],
        actor=str(actor)[:200],
    )
    return txn


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
