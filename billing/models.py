"""The account balance (帳戶餘額) and its append-only ledger, monthly SMS bills and the low-balance notices.

Billing knows nothing of messages: a debit carries the feature and channel that caused it as plain strings, and
its reference (e.g. the outbox row) as text. Usage statistics and bills are read from those fields.
"""

from decimal import Decimal

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.tenancy import for_team

MONEY = {"max_digits": 18, "decimal_places": 4}


class TransactionType(models.TextChoices):
    """Stable codes stored in the ledger; the labels are seed 004's words."""

    TOP_UP = "top_up", _("儲值")
    ADJUSTMENT = "adjustment", _("餘額調整")
    SMS_DEBIT = "sms_debit", _("SMS 扣款")
    REFUND = "refund", _("退款")
    WHATSAPP_DEBIT = "whatsapp_debit", _("WhatsApp 扣款")


class Product(models.TextChoices):
    """What a debit (and its refund) paid for; usage statistics and bills group by it."""

    NONE = "", "-"
    SMS = "sms", "SMS"
    WHATSAPP = "whatsapp", "WhatsApp"


DEBIT_PRODUCT = {TransactionType.SMS_DEBIT: Product.SMS, TransactionType.WHATSAPP_DEBIT: Product.WHATSAPP}


class Account(models.Model):
    """One balance per team, in the team's currency. `balance` is a cache of Σ ledger amounts, written only in the
    same statement or transaction that appends the ledger row (billing.services)."""

    team = models.OneToOneField("accounts.Team", on_delete=models.CASCADE, related_name="billing_account")
    balance = models.DecimalField(_("帳戶餘額"), default=Decimal("0"), **MONEY)
    low_balance_threshold = models.DecimalField(
        _("餘額過低門檻"),
        default=Decimal("100"),
        help_text=_("餘額低於此金額時，寄信通知（一天最多一封）並在主控台顯示警示。"),
        **MONEY,
    )
    grace_amount = models.DecimalField(
        _("最低寬限金額"),
        default=Decimal("0"),
        help_text=_("餘額低於此金額時，阻擋簡訊功能；可為負數。"),
        **MONEY,
    )
    legacy_sms_credits = models.PositiveIntegerField(
        _("SMS 剩餘次數（舊制）"),
        default=0,
        help_text=_("舊制 SMS 剩餘次數，以「SMS 簡訊餘額移轉」1:1 轉為帳戶餘額。"),
    )
    sms_credits_migrated_at = models.DateTimeField(_("SMS 餘額移轉時間"), null=True, blank=True)
    updated_at = models.DateTimeField(_("更新時間"), default=timezone.now)

    class Meta:
        verbose_name = _("帳戶餘額")
        verbose_name_plural = _("帳戶餘額")

    def __str__(self):
        return f"{self.team} {self.balance}"

    @property
    def blocked(self):
        return self.balance < self.grace_amount

    @property
    def low(self):
        return self.balance < self.low_balance_threshold


class TransactionQuerySet(models.QuerySet):
    for_team = for_team


class Transaction(models.Model):
    """One append-only ledger row. `amount` is signed (debits negative); `balance_after` is the balance right after
    it. `quantity` is the usage it stands for (SMS 則; a refund's is negative)."""

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="billing_transactions")
    type = models.CharField(_("類型"), max_length=20, choices=TransactionType.choices)
    amount = models.DecimalField(_("金額"), **MONEY)
    balance_after = models.DecimalField(_("交易後餘額"), **MONEY)
    product = models.CharField(_("項目"), max_length=20, choices=Product.choices, blank=True, default="")
    feature = models.CharField(_("功能"), max_length=100, blank=True, default="")
    channel = models.CharField(_("渠道"), max_length=100, blank=True, default="")
    quantity = models.IntegerField(_("使用量"), default=0)
    note = models.CharField(_("備註"), max_length=500, blank=True, default="")
    reference = models.CharField(_("參考"), max_length=200, blank=True, default="")
    idempotency_key = models.CharField(_("冪等鍵"), max_length=200)
    # A debit is refunded at most once: unique per team (every unique constraint includes the team).
    refund_of = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="refunds", verbose_name=_("退款對象")
    )
    actor = models.CharField(_("操作者"), max_length=200, blank=True, default="")
    created_at = models.DateTimeField(_("時間"), default=timezone.now)

    objects = TransactionQuerySet.as_manager()

    class Meta:
        verbose_name = _("交易紀錄")
        verbose_name_plural = _("交易紀錄")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["team", "idempotency_key"], name="billing_txn_team_idempotency_key"),
            models.UniqueConstraint(fields=["team", "refund_of"], name="billing_txn_team_refund_of"),
        ]
        indexes = [
            models.Index(fields=["team", "created_at"], name="billing_txn_team_created"),
            models.Index(fields=["team", "type", "created_at"], name="billing_txn_team_type"),
            models.Index(fields=["team", "product", "created_at"], name="billing_txn_team_product"),
        ]

    def __str__(self):
        return f"{self.get_type_display()} {self.amount}"


class MonthlyBill(models.Model):
    """The SMS bill of one team and month (seed 004: 每月 3 號寄送上個月的 SMS 費用帳單). One per team and month."""

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="monthly_bills")
    month = models.DateField(_("月份"), help_text=_("該月第一天"))
    currency = models.CharField(_("幣別"), max_length=3)
    quantity = models.IntegerField(_("使用量"), default=0)
    amount = models.DecimalField(_("費用"), default=Decimal("0"), **MONEY)
    lines = models.JSONField(_("明細"), default=list)  # [{"feature", "channel", "quantity", "amount"}]
    created_at = models.DateTimeField(_("建立時間"), default=timezone.now)
    email_claimed_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(_("寄送時間"), null=True, blank=True)
    emailed_to = models.CharField(_("寄送對象"), max_length=254, blank=True, default="")

    objects = TransactionQuerySet.as_manager()

    class Meta:
        verbose_name = _("SMS 費用帳單")
        verbose_name_plural = _("SMS 費用帳單")
        ordering = ["-month"]
        constraints = [models.UniqueConstraint(fields=["team", "month"], name="billing_bill_team_month")]

    def __str__(self):
        return f"{self.team} {self.month:%Y-%m}"


class LowBalanceNotice(models.Model):
    """One row per team and team-local day on which the low-balance email went out: the unique constraint is
    what keeps it to 一天最多一封 with many workers and many debits."""

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="low_balance_notices")
    day = models.DateField()
    balance = models.DecimalField(**MONEY)
    sent_to = models.CharField(max_length=254, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "day"], name="billing_low_balance_team_day")]


class UsageMonth(models.Model):
    """The monthly usage rollup: Σ quantity and Σ cost (−Σ amount) of the ledger rows that count as usage (those
    with a product: debits and their refunds) per team-local month, product, feature and channel. Written in the
    same transaction as every such ledger row (billing.services), so the account overview reads a few hundred
    rows instead of grouping the whole ledger; rebuilt from the ledger by `services.rebuild_usage`."""

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="usage_months")
    month = models.DateField(_("月份"), help_text=_("該月第一天"))
    product = models.CharField(_("項目"), max_length=20, choices=Product.choices)
    feature = models.CharField(_("功能"), max_length=100, blank=True, default="")
    channel = models.CharField(_("渠道"), max_length=100, blank=True, default="")
    quantity = models.BigIntegerField(_("使用量"), default=0)
    amount = models.DecimalField(_("費用"), default=Decimal("0"), **MONEY)

    objects = TransactionQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["team", "month", "product", "feature", "channel"], name="billing_usage_team_month_key"
            )
        ]
