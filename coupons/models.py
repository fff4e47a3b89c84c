"""優惠券管理: coupon campaigns, their code pool, and each customer's claims (seeds 003 and 004).

A campaign hands out either one shared code or unique codes from a pool (generated or imported). A claim is one
customer's code of one campaign: at most `per_customer_limit` per customer (claim numbers 1..limit, unique), and
a unique pool code belongs to at most one claim (claimed with SKIP LOCKED; `CouponCode.claimed_at` is set in the
same transaction). Redemptions come from the website (events API `coupon.redeemed`, or `checkout.completed` with
a coupon code) through cdp's timeline hand-off (coupons.tasks.on_customer_events).
"""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import TeamOwned


class CodeMode(models.TextChoices):
    SHARED = "shared", _("共用代碼")
    UNIQUE = "unique", _("專屬代碼（每人一組）")


class Campaign(TeamOwned):
    name = models.CharField(_("活動名稱"), max_length=120)
    description = models.TextField(_("活動說明"), blank=True, max_length=2000)
    image_url = models.URLField(_("圖片網址"), blank=True, max_length=1000)
    discount_text = models.CharField(
        _("優惠內容"), max_length=200, help_text=_("顧客看到的優惠文字，例如「全館九折」。")
    )
    starts_at = models.DateTimeField(_("開始時間"))
    ends_at = models.DateTimeField(_("結束時間"))
    total_quantity = models.PositiveIntegerField(
        _("發放總數"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("最多可領取的張數；專屬代碼另以代碼數量為上限。留白表示不限。"),
    )
    per_customer_limit = models.PositiveSmallIntegerField(
        _("每人可領取張數"), default=1, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    code_mode = models.CharField(_("代碼類型"), max_length=8, choices=CodeMode.choices, default=CodeMode.UNIQUE)
    shared_code = models.CharField(_("共用代碼"), max_length=64, blank=True)
    claim_button_label = models.CharField(_("領取按鈕文字"), max_length=20, default="領取優惠券")
    redeem_url = models.URLField(_("官網兌換網址"), max_length=1000, help_text=_("兌換按鈕前往的品牌官網頁面。"))
    redeem_button_label = models.CharField(_("兌換按鈕文字"), max_length=20, default="前往官網使用")
    redeem_text = models.CharField(
        _("兌換說明文字"), max_length=300, blank=True, help_text=_("顯示在兌換按鈕上方，例如「結帳時輸入優惠碼」。")
    )
    # The coupon card (messaging chatbot module, type coupon_card) kept in step with the campaign.
    module = models.ForeignKey(
        "messaging.ChatbotModule", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    # What staff set (console form and API alike).
    EDITABLE_FIELDS = [
        "name",
        "description",
        "image_url",
        "discount_text",
        "starts_at",
        "ends_at",
        "total_quantity",
        "per_customer_limit",
        "code_mode",
        "shared_code",
        "claim_button_label",
        "redeem_url",
        "redeem_button_label",
        "redeem_text",
    ]

    class Meta:
        verbose_name = _("優惠券活動")
        verbose_name_plural = _("優惠券活動")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["team", "created_at"], name="coupon_campaign_team_created")]

    def __str__(self):
        return self.name


class CouponCode(TeamOwned):
    """One unique code of a campaign's pool. claimed_at is set when a claim takes it, never cleared."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="codes")
    code = models.CharField(_("優惠碼"), max_length=64)
    claimed_at = models.DateTimeField(_("領取時間"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("優惠碼")
        verbose_name_plural = _("優惠碼")
        constraints = [
            models.UniqueConstraint(fields=["team", "campaign", "code"], name="couponcode_unique_team_campaign_code")
        ]
        indexes = [
            # The pool: the next free code without scanning the claimed ones.
            models.Index(
                fields=["team", "campaign", "id"], condition=Q(claimed_at__isnull=True), name="couponcode_free"
            ),
            models.Index(fields=["team", "code"], name="couponcode_team_code"),
        ]


class Claim(TeamOwned):
    """One customer's code of one campaign (number 1..per_customer_limit), and its redemption."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="claims")
    customer = models.ForeignKey("cdp.Customer", on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey("cdp.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    number = models.PositiveSmallIntegerField(default=1)
    code = models.CharField(_("優惠碼"), max_length=64)
    pool_code = models.ForeignKey(CouponCode, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    claimed_at = models.DateTimeField(_("領取時間"), default=timezone.now)
    redeemed_at = models.DateTimeField(_("兌換時間"), null=True, blank=True)
    order_id = models.CharField(_("訂單編號"), max_length=128, blank=True)

    class Meta:
        verbose_name = _("優惠券領取紀錄")
        verbose_name_plural = _("優惠券領取紀錄")
        constraints = [
            models.UniqueConstraint(
                fields=["team", "campaign", "customer", "number"], name="claim_unique_team_campaign_customer_number"
            ),
            # A pool code belongs to one claim at most (the backstop of SKIP LOCKED).
            models.UniqueConstraint(fields=["team", "pool_code"], name="claim_unique_team_pool_code"),
        ]
        indexes = [
            models.Index(fields=["team", "campaign", "claimed_at"], name="claim_team_campaign_time"),
            models.Index(fields=["team", "code"], name="claim_team_code"),
            models.Index(fields=["team", "customer"], name="claim_team_customer"),
        ]
