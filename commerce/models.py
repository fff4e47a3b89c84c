"""Chat to Order (issue 19, seed 003 「Chat To Order 對話下單」): orders made in chat, their items, transitions and
payments; the team's catalog products, pickup branches and settings."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import TeamOwned
from cdp.encryption import EncryptedJSONField

from .statemachine import OrderStatus


class PaymentMethod(models.TextChoices):
    """Seed 003: 「目前支援付款類型（付款方式可自訂顯示名稱）」."""

    CARD = "card", _("信用卡（線上）")
    CASH = "cash", _("現金")
    CHEQUE = "cheque", _("支票")
    BANK = "bank", _("銀行 / ATM")


OFFLINE_METHODS = (PaymentMethod.CASH, PaymentMethod.CHEQUE, PaymentMethod.BANK)
# Seed 003: offline methods 「目前僅支援 WhatsApp」.
METHOD_CHANNEL_KINDS = {
    PaymentMethod.CARD: ("line", "whatsapp"),
    PaymentMethod.CASH: ("whatsapp",),
    PaymentMethod.CHEQUE: ("whatsapp",),
    PaymentMethod.BANK: ("whatsapp",),
}


class PaymentChoice(models.TextChoices):
    """What the salesperson picks: one method, 由顧客選擇, or 到店付款 (with 分店取貨 it means cash)."""

    CARD = "card", _("信用卡（線上）")
    CASH = "cash", _("現金")
    CHEQUE = "cheque", _("支票")
    BANK = "bank", _("銀行 / ATM")
    CUSTOMER = "customer", _("由顧客選擇")
    PAY_AT_STORE = "pay_at_store", _("到店付款")


class Delivery(models.TextChoices):
    SHIPPING = "shipping", _("宅配")
    PICKUP = "pickup", _("分店取貨")


class OrderSource(models.TextChoices):
    STAFF = "staff", _("銷售人員建立")
    CATALOG = "catalog", _("WhatsApp Catalog")


class LogoMode(models.TextChoices):
    TEAM_AVATAR = "team_avatar", _("團隊大頭照")
    UPLOADED = "uploaded", _("已上傳的圖片")
    NONE = "none", _("無圖片")


class CommerceSettings(TeamOwned):
    """對話下單 > 基本設定: one row per team, made on first read (services.settings.get_settings)."""

    logo_mode = models.CharField(_("商家 Logo"), max_length=16, choices=LogoMode.choices, default=LogoMode.TEAM_AVATAR)
    logo = models.FileField(_("上傳的 Logo"), upload_to="commerce-logos/", blank=True)
    email_required = models.BooleanField(_("顧客 Email 必填"), default=True)
    default_email = models.EmailField(_("預設 Email"), blank=True)
    # {"card": {"name": "信用卡（線上）", "line": true, "whatsapp": true}, "cash": {...}, ...}
    payment_methods = models.JSONField(default=dict, blank=True)
    payment_provider = models.CharField(
        _("線上金流"), max_length=16, choices=[("sandbox", _("沙盒")), ("stripe", "Stripe")], default="sandbox"
    )
    # Stripe: {"secret_key", "webhook_secret"}; encrypted at rest like channel credentials.
    provider_credentials = EncryptedJSONField(default=dict, blank=True)
    catalog_id = models.CharField(_("Commerce Manager 目錄 ID"), max_length=64, blank=True)
    cart_enabled = models.BooleanField(_("啟用購物車"), default=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("對話下單設定")
        verbose_name_plural = _("對話下單設定")
        constraints = [models.UniqueConstraint(fields=["team"], name="commerce_settings_one_per_team")]


class PickupBranch(TeamOwned):
    """A store for 分店取貨. Commerce keeps its own simple list (not cdp's OMO staff / branch list)."""

    name = models.CharField(_("分店名稱"), max_length=100)
    address = models.CharField(_("地址"), max_length=300, blank=True)
    is_active = models.BooleanField(_("啟用"), default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("取貨分店")
        verbose_name_plural = _("取貨分店")
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="pickup_branch_unique_name")]

    def __str__(self):
        return self.name


class CatalogProduct(TeamOwned):
    """A product staff can add to orders: synced from the Commerce Manager catalog or made by hand."""

    retailer_id = models.CharField(_("商品編號（SKU）"), max_length=100)
    name = models.CharField(_("商品名稱"), max_length=200)
    price = models.DecimalField(_("單價"), max_digits=14, decimal_places=2)
    currency = models.CharField(_("幣別"), max_length=3)
    image_url = models.URLField(_("圖片網址"), max_length=1000, blank=True)
    source = models.CharField(max_length=16, choices=[("manual", _("手動")), ("catalog", _("目錄同步"))])
    catalog_product_id = models.CharField(max_length=64, blank=True)
    is_active = models.BooleanField(_("啟用"), default=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("目錄商品")
        verbose_name_plural = _("目錄商品")
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["team", "retailer_id"], name="catalog_product_unique_sku")]

    def __str__(self):
        return f"{self.name} ({self.retailer_id})"


class Order(TeamOwned):
    number = models.CharField(_("訂單編號"), max_length=40)
    status = models.CharField(_("狀態"), max_length=24, choices=OrderStatus.choices, default=OrderStatus.DRAFT)
    source = models.CharField(_("來源"), max_length=16, choices=OrderSource.choices, default=OrderSource.STAFF)
    customer = models.ForeignKey("cdp.Customer", on_delete=models.PROTECT, related_name="+")
    contact = models.ForeignKey("cdp.Contact", on_delete=models.PROTECT, related_name="+")
    channel = models.ForeignKey("cdp.Channel", on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    currency = models.CharField(_("幣別"), max_length=3)
    total = models.DecimalField(_("總計"), max_digits=14, decimal_places=2, default=Decimal("0"))
    delivery = models.CharField(_("取貨方式"), max_length=16, choices=Delivery.choices, blank=True)
    shipping_address = models.CharField(_("寄送地址"), max_length=500, blank=True)
    pickup_branch = models.ForeignKey(
        PickupBranch, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("取貨分店")
    )
    payment_choice = models.CharField(_("付款方式"), max_length=16, choices=PaymentChoice.choices, blank=True)
    payment_method = models.CharField(_("實際付款方式"), max_length=16, choices=PaymentMethod.choices, blank=True)
    email = models.EmailField(_("顧客 Email"), blank=True)
    note = models.CharField(_("備註"), max_length=500, blank=True)
    catalog_id = models.CharField(max_length=64, blank=True)
    source_message_id = models.CharField(max_length=128, blank=True)  # the WhatsApp `order` message's wamid
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("對話訂單")
        verbose_name_plural = _("對話訂單")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["team", "number"], name="commerce_order_unique_number"),
            models.UniqueConstraint(
                fields=["team", "channel", "source_message_id"],
                condition=~Q(source_message_id=""),
                name="commerce_order_unique_source_message",
            ),
        ]
        indexes = [
            models.Index(fields=["team", "status", "created_at"], name="commerce_order_status"),
            models.Index(fields=["team", "created_at"], name="commerce_order_created"),
            models.Index(fields=["team", "customer"], name="commerce_order_customer"),
        ]

    def __str__(self):
        return self.number

    @property
    def is_offline(self):
        return self.payment_method in OFFLINE_METHODS


class OrderItem(TeamOwned):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    name = models.CharField(_("品名"), max_length=200)
    sku = models.CharField(_("商品編號"), max_length=100, blank=True)
    quantity = models.PositiveIntegerField(_("數量"))
    unit_price = models.DecimalField(_("單價"), max_digits=14, decimal_places=2)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    @property
    def line_total(self):
        return self.unit_price * self.quantity


class OrderTransition(TeamOwned):
    """Every status change of an order: from, to, the event, who and when (like journeys.StatusChange)."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=24, choices=OrderStatus.choices)
    to_status = models.CharField(max_length=24, choices=OrderStatus.choices)
    event = models.CharField(max_length=24)
    actor = models.CharField(max_length=200, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["team", "order", "at"], name="commerce_transition_order")]


class PaymentStatus(models.TextChoices):
    PENDING = "pending", _("處理中")
    PAID = "paid", _("已付款")
    FAILED = "failed", _("失敗")


class Payment(TeamOwned):
    """One attempt to pay an order online, or the record of an offline payment. At most one pending per order
    (double-clicking 「付款」 reuses it)."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="payments")
    provider = models.CharField(max_length=16)  # sandbox | stripe | offline
    method = models.CharField(max_length=16, choices=PaymentMethod.choices)
    status = models.CharField(max_length=16, choices=PaymentStatus.choices, default=PaymentStatus.PENDING)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    email = models.EmailField(blank=True)
    provider_ref = models.CharField(max_length=255, blank=True)  # Stripe Checkout Session id
    checkout_url = models.URLField(max_length=2000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    paid_at = models.DateTimeField(null=True, blank=True)
    recorded_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "order"], condition=Q(status="pending"), name="commerce_payment_one_pending"
            ),
            models.UniqueConstraint(
                fields=["team", "order"], condition=Q(status="paid"), name="commerce_payment_one_paid"
            ),
        ]
        indexes = [models.Index(fields=["team", "provider", "provider_ref"], name="commerce_payment_ref")]


class PaymentEventState(models.TextChoices):
    PENDING = "pending", _("待處理")
    PROCESSED = "processed", _("已處理")
    REJECTED = "rejected", _("已拒絕")
    FAILED = "failed", _("失敗")


class PaymentEvent(TeamOwned):
    """A payment provider's webhook event, stored (deduplicated by the provider's event id) before the 200."""

    provider = models.CharField(max_length=16)
    event_id = models.CharField(max_length=255)
    type = models.CharField(max_length=100)
    payload = models.JSONField(default=dict)
    state = models.CharField(max_length=16, choices=PaymentEventState.choices, default=PaymentEventState.PENDING)
    error = models.CharField(max_length=500, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "provider", "event_id"], name="commerce_payment_event_unique")
        ]
        indexes = [
            models.Index(fields=["received_at"], condition=Q(state="pending"), name="commerce_payment_event_pending")
        ]
