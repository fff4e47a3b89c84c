import hashlib
import secrets
import zoneinfo
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .permissions import Role, role_has_permission
from .tenancy import for_team
from .urlguard import validate_outbound_url


def validate_time_zone(value):
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("未知的時區：%(tz)s"), params={"tz": value})


def validate_exchange_rates(value):
    """{"HKD": "4.05"}: three-letter currency codes, each worth a positive decimal of the team's currency."""
    if not isinstance(value, dict):
        raise ValidationError(_("匯率格式錯誤。"))
    for code, rate in value.items():
        if not (isinstance(code, str) and len(code) == 3 and code.isascii() and code.isalpha() and code.isupper()):
            raise ValidationError(_("幣別需為三個大寫英文字母（ISO 4217）：%(code)s"), params={"code": code})
        try:
            number = Decimal(str(rate))
        except ArithmeticError:
            number = None
        if number is None or not number.is_finite() or number <= 0:
            raise ValidationError(_("%(code)s 的匯率需為大於 0 的數字。"), params={"code": code})


def generate_webhook_secret():
    return f"whsec_{secrets.token_urlsafe(32)}"


class Team(models.Model):
    """A tenant: every row of customer data belongs to exactly one team."""

    name = models.CharField(_("名稱"), max_length=200)
    slug = models.SlugField(_("代碼"), max_length=60, unique=True)
    time_zone = models.CharField(_("時區"), max_length=64, default="Asia/Taipei", validators=[validate_time_zone])
    currency = models.CharField(_("幣別"), max_length=3, default="TWD")
    default_region = models.CharField(
        _("預設電話區碼地區"), max_length=2, default="TW", help_text=_("解析沒有國碼的電話號碼時使用（ISO 3166）。")
    )
    contact_quota = models.PositiveIntegerField(_("名單配額"), default=10000)
    # Raw event log kept this many whole months (None: forever); cdp/partitions.py applies it daily (at least 3).
    event_retention_months = models.PositiveSmallIntegerField(_("事件紀錄保留月數"), null=True, blank=True)
    billing_email = models.EmailField(_("帳單 Email"), blank=True)
    avatar = models.FileField(_("團隊頭像"), upload_to="team-avatars/", blank=True)
    # Identity resolution switches (member id always matches first).
    match_by_phone = models.BooleanField(_("以電話合併顧客"), default=True)
    match_by_email = models.BooleanField(_("以 Email 合併顧客"), default=True)
    # Message cost estimates (seed 003): LINE NT$0.2, WhatsApp HKD 0.5 per message by default.
    line_message_cost = models.DecimalField(
        _("LINE 每則訊息費用"),
        max_digits=8,
        decimal_places=4,
        default=Decimal("0.2"),
        validators=[MinValueValidator(0)],
    )
    line_cost_currency = models.CharField(_("LINE 費用幣別"), max_length=3, default="TWD")
    whatsapp_message_cost = models.DecimalField(
        _("WhatsApp 每則訊息費用"),
        max_digits=8,
        decimal_places=4,
        default=Decimal("0.5"),
        validators=[MinValueValidator(0)],
    )
    whatsapp_cost_currency = models.CharField(_("WhatsApp 費用幣別"), max_length=3, default="HKD")
    # WhatsApp prepaid (seed 002 「預付團隊餘額為 0」): with a price, each successful WhatsApp send is debited from the
    # account balance at this price in the team's currency, and WhatsApp journeys stop at a balance of 0 or less.
    # Empty: WhatsApp is billed by Meta (its error 131042 stops the channel instead).
    whatsapp_prepaid_price = models.DecimalField(
        _("WhatsApp 費用自帳戶餘額扣款：每則金額（團隊幣別，留白表示由 Meta 計費）"),
        max_digits=8,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    attribution_window_days = models.PositiveSmallIntegerField(
        _("營收歸因天數"),
        default=7,
        validators=[MinValueValidator(1)],
        help_text=_("顧客點擊旅程訊息的按鈕或連結後，幾天內完成的訂單算作旅程導購。"),
    )
    # ROAS across currencies (issue 24.4): {"HKD": "4.05"} = 1 HKD is worth 4.05 of `currency`. Amounts in different
    # currencies are never added without a rate set here; journeys.stats.roas reads it.
    exchange_rates = models.JSONField(_("匯率"), default=dict, blank=True, validators=[validate_exchange_rates])
    # Plan setting (seed 002: 旅程觸發次數已達方案上限 → 觸發已關閉): triggers one journey may take, counted with
    # repeats. Journeys copy it when published; empty means unlimited.
    journey_trigger_limit = models.PositiveIntegerField(
        _("方案：每個旅程觸發次數上限"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("每個旅程可被觸發的總次數（重複計算），於旅程發佈時套用；留白表示不限。"),
    )
    # 社群點數: a deduction may take a balance below zero only when the team allows it.
    points_allow_negative = models.BooleanField(
        _("允許點數餘額為負"),
        default=False,
        help_text=_("關閉時，扣點後餘額不可低於 0。"),
    )
    # 訂單規則: a completed checkout in the team's currency earns floor(amount / this) points; empty = no rule.
    points_per_order_amount = models.DecimalField(
        _("訂單集點：每消費多少金額得 1 點"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text=_("以團隊幣別計算，例如 100 表示每 100 元得 1 點；留白表示結帳不自動給點。"),
    )
    # Binding links (cdp.services.binding_links): how long the token on a chat button to the website is valid.
    binding_link_days = models.PositiveSmallIntegerField(
        _("綁定連結有效天數"),
        default=7,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text=_("對話中導向官網的按鈕所帶的綁定連結，幾天內有效。"),
    )
    outbound_webhook_url = models.URLField(
        _("對外 Webhook URL"),
        blank=True,
        validators=[validate_outbound_url],
        help_text=_("旅程變更顧客屬性時，以簽章的 POST 通知此網址（需為 https 公開網址）。"),
    )
    # HMAC key of the X-SocialCDP-Signature header; generated when the URL is saved (accounts.outbound_webhooks).
    outbound_webhook_secret = models.CharField(_("對外 Webhook 密鑰"), max_length=128, blank=True)
    created_at = models.DateTimeField(_("建立時間"), default=timezone.now)

    class Meta:
        verbose_name = _("團隊")
        verbose_name_plural = _("團隊")
        ordering = ["name"]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        """Never a webhook URL without a signing secret: every delivery is signed."""
        if self.outbound_webhook_url and not self.outbound_webhook_secret:
            self.outbound_webhook_secret = generate_webhook_secret()
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "outbound_webhook_secret"}
        super().save(*args, **kwargs)

    @property
    def whatsapp_prepaid(self):
        """WhatsApp is paid from the account balance (a prepaid price is set)."""
        return self.whatsapp_prepaid_price is not None

    @property
    def zone(self):
        return zoneinfo.ZoneInfo(self.time_zone)

    def localtime(self, value):
        return timezone.localtime(value, self.zone) if value else value


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("角色"), max_length=20, choices=Role.choices, default=Role.MARKETER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("成員")
        verbose_name_plural = _("成員")
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="membership_unique_team_user")]

    def __str__(self):
        return f"{self.user} @ {self.team} ({self.role})"

    def has_perm(self, permission):
        return role_has_permission(self.role, permission)


class TeamQuerySet(models.QuerySet):
    def for_team(self, team):
        return for_team(self, team)


class TeamOwned(models.Model):
    """Base for every customer-data table: a team column and a for_team() that every query goes through."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")

    objects = TeamQuerySet.as_manager()

    class Meta:
        abstract = True


API_KEY_PREFIX = "scdp"


def hash_api_key(raw_key):
    # API keys carry 256 bits of randomness, so a fast hash is safe and keeps authentication cheap.
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiKeyQuerySet(TeamQuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class ApiKey(TeamOwned):
    """A per-team API key. The raw key is shown once at creation; only its hash is stored."""

    name = models.CharField(_("名稱"), max_length=100)
    prefix = models.CharField(max_length=12, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    role = models.CharField(_("角色"), max_length=20, choices=Role.choices, default=Role.ADMIN)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(_("建立時間"), default=timezone.now)
    last_used_at = models.DateTimeField(_("最後使用時間"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("撤銷時間"), null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = _("API 金鑰")
        verbose_name_plural = _("API 金鑰")
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self):
        return self.revoked_at is None

    def has_perm(self, permission):
        return role_has_permission(self.role, permission)

    @staticmethod
    def generate():
        """Return (prefix, raw_key)."""
        prefix = secrets.token_hex(4)
        return prefix, f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"


class Handoff(models.Model):
    """A fact a higher app still has to handle, written in the transaction that recorded the fact.

    cdp's timeline events (for analytics and journeys) and system signals (for journeys) reach their consumers
    through these rows, not through queue messages: a consumer claims its rows with SKIP LOCKED and deletes them in
    the transaction that handles them, so a worker dying, a lost hint or a flushed broker loses nothing and
    handles nothing twice. See accounts/handoff.py.
    """

    consumer = models.CharField(max_length=120)  # dotted path of the consumer function
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    topic = models.CharField(max_length=10)  # "events" (payload: [event ids]) or "signal" ({"kind", "payload"})
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    available_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        verbose_name = _("待處理交接")
        verbose_name_plural = _("待處理交接")
        indexes = [models.Index(fields=["consumer", "team", "id"], name="handoff_consumer_team")]

    def __str__(self):
        return f"{self.consumer} team {self.team_id} #{self.pk}"


class DeliveryState(models.TextChoices):
    PENDING = "pending", _("待傳送")
    DELIVERED = "delivered", _("已送達")
    FAILED = "failed", _("失敗")


class OutboundWebhookDelivery(TeamOwned):
    """One event POSTed to the team's outbound webhook: the row is the work (claimed, retried, recorded)."""

    event_type = models.CharField(_("事件類型"), max_length=64)
    payload = models.JSONField(_("內容"))
    state = models.CharField(_("狀態"), max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(_("嘗試次數"), default=0)
    next_attempt_at = models.DateTimeField(_("下次嘗試時間"), default=timezone.now)
    # A worker's lease: while in the future the row is being sent; once past, the worker is presumed dead.
    claimed_until = models.DateTimeField(null=True, blank=True)
    url = models.URLField(_("最後傳送網址"), blank=True)
    last_status_code = models.PositiveSmallIntegerField(_("最後回應碼"), null=True, blank=True)
    last_error = models.CharField(_("最後錯誤"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("建立時間"), default=timezone.now)
    updated_at = models.DateTimeField(_("更新時間"), default=timezone.now)
    delivered_at = models.DateTimeField(_("送達時間"), null=True, blank=True)

    class Meta:
        verbose_name = _("對外 Webhook 傳送")
        verbose_name_plural = _("對外 Webhook 傳送")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="webhook_delivery_due"),
            models.Index(fields=["team", "-created_at"], name="webhook_delivery_team_recent"),
        ]

    def __str__(self):
        return f"{self.event_type} #{self.pk} ({self.state})"
