"""Channels, contacts, omni-customers, identity bindings, tags, custom attributes and the customer timeline.

Every table carries `team`; every unique constraint includes it. Times are UTC; a contact's created-at,
subscribe and interaction times are the platform's event times, not the time of receipt.
"""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.models import Team, TeamOwned, TeamQuerySet

from .encryption import EncryptedJSONField
from .phones import normalize_phone

# At most this many customers per exact identifier a search resolves (an id names one; a shared phone a few).
SEARCH_MAX_EXACT = 500


class ChannelKind(models.TextChoices):
    LINE = "line", "LINE"
    FACEBOOK = "facebook", "Facebook Messenger"
    INSTAGRAM = "instagram", "Instagram"
    WHATSAPP = "whatsapp", "WhatsApp"
    WECHAT = "wechat", "WeChat"
    WEB = "web", _("官網")
    SMS = "sms", "SMS"


class ChannelStatus(models.TextChoices):
    ACTIVE = "active", _("啟用中")
    DISABLED = "disabled", _("已停用")


class ChannelQuerySet(TeamQuerySet):
    def active(self):
        return self.filter(status=ChannelStatus.ACTIVE)


class Channel(TeamOwned):
    """One connected account: a LINE Official Account, a Facebook page, an IG account, a WhatsApp number, ..."""

    kind = models.CharField(_("渠道類型"), max_length=16, choices=ChannelKind.choices)
    name = models.CharField(_("名稱"), max_length=200)
    # The platform's own id of this account: LINE bot user id (webhook `destination`), Facebook page id,
    # Instagram account id, WhatsApp phone_number_id, WeChat original id, website domain.
    external_id = models.CharField(_("平台帳號 ID"), max_length=128, blank=True)
    # Secrets and tokens, keys per kind in cdp.credentials. Write-only in forms/API; encrypted at rest.
    credentials = EncryptedJSONField(default=dict, blank=True)
    # The sandbox provider simulates sends, deliveries, reads, clicks and replies: no credentials needed.
    is_sandbox = models.BooleanField(_("沙盒渠道"), default=False)
    status = models.CharField(_("狀態"), max_length=16, choices=ChannelStatus.choices, default=ChannelStatus.ACTIVE)
    created_at = models.DateTimeField(_("建立時間"), default=timezone.now)

    objects = ChannelQuerySet.as_manager()

    class Meta:
        verbose_name = _("渠道")
        verbose_name_plural = _("渠道")
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "kind", "external_id"],
                condition=~Q(external_id=""),
                name="channel_unique_team_kind_external_id",
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()} · {self.name}"

    @property
    def is_active(self):
        return self.status == ChannelStatus.ACTIVE


class ContactSource(models.TextChoices):
    """The 20 new-contact source types of seed 000 (新聯絡人來源)."""

    IMPORT = "import", _("匯入名單")
    API_SYNC = "api_sync", _("API 同步")
    MANUAL = "manual", _("手動新增")
    OMO_BINDING = "omo_binding", _("OMO 綁定")
    KEYWORD = "keyword", _("關鍵字自動回覆 / 指派")
    WEBSITE_BINDING = "website_binding", _("官網綁定")
    CART_REMARKETING = "cart_remarketing", _("購物車再行銷")
    IG_POST_REPLY = "ig_post_reply", _("IG 貼文回覆")
    FB_POST_REPLY = "fb_post_reply", _("FB 貼文回覆")
    FB_RECURRING_NOTIFICATION = "fb_recurring_notification", _("FB 定期通知")
    IG_LIVE_COMMENT_REPLY = "ig_live_comment_reply", _("IG 直播留言回覆")
    IG_STORY_MENTION = "ig_story_mention", _("IG 限動標註")
    IG_STORY_REPLY = "ig_story_reply", _("IG 限動回覆")
    FB_AD_WHATSAPP = "fb_ad_whatsapp", _("FB 廣告（點擊進入 WhatsApp）")
    FB_AD_MESSENGER = "fb_ad_messenger", _("FB 廣告（點擊進入 Messenger）")
    COUPON = "coupon", _("優惠券模組")
    GAME = "game", _("遊戲模組")
    PIXEL = "pixel", _("Pixel")
    APP91_LINE_BINDING = "app91_line_binding", _("91App LINE 會員綁定")
    ORGANIC = "organic", _("自然流量")


class SubscriptionStatus(models.TextChoices):
    SUBSCRIBED = "subscribed", _("訂閱中")
    UNSUBSCRIBED = "unsubscribed", _("已取消訂閱")
    BLOCKED = "blocked", _("已封鎖")


class UnsubscribeScope(models.TextChoices):
    """Seed 001: manual unsubscribe scopes. Welcome and bot messages are never affected."""

    BROADCAST = "broadcast", _("推播訊息")
    WEB_PUSH = "web_push", _("官網顧客行銷推播")
    CART_REMARKETING = "cart_remarketing", _("購物車再行銷訊息")


def receiving_q(scope=UnsubscribeScope.BROADCAST, *, prefix=""):
    """THE rule of who may receive marketing of one unsubscribe scope (seed 001), as a Q on Contact rows
    (``prefix``: the path to the contact, e.g. "contact__"): not blocked, within the contact quota, and not
    unsubscribed from that scope. Each scope has only its own effect: a contact unsubscribed from website marketing
    pushes still receives broadcasts and journey messages (those are the ``broadcast`` scope). Audience packs,
    broadcasts and journey messages all pick recipients through this rule (or ``Contact.not_receiving_reason``,
    its one-row form: a test pins that both agree)."""
    scope = UnsubscribeScope(scope)
    return ~Q(**{f"{prefix}status": SubscriptionStatus.BLOCKED}) & Q(
        **{f"{prefix}is_over_quota": False, f"{prefix}unsubscribed_{scope.value}": False}
    )


class ContactQuerySet(TeamQuerySet):
    def valid(self):
        """有效聯絡人: subscribed, i.e. not blocked and not unsubscribed from any scope (seed 001: 「取消訂閱也同時會
        減少有效聯絡人的計算」). A count, not a recipient rule: see ``receiving``."""
        return self.filter(status=SubscriptionStatus.SUBSCRIBED)

    def receiving(self, scope=UnsubscribeScope.BROADCAST):
        """The contacts that may receive marketing of ``scope`` (see ``receiving_q``)."""
        return self.filter(receiving_q(scope))

    def reachable(self):
        """What audience packs, broadcasts and journey messages may use: receiving broadcasts (推播訊息)."""
        return self.receiving(UnsubscribeScope.BROADCAST)


def team_column(**options):
    """The team foreign key without its own index, for hot write tables whose (team, ...) indexes cover team_id:
    one index fewer to maintain on every insert (imports, the events API, merges)."""
    return models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+", db_index=False, **options)


class Contact(TeamOwned):
    """One person on one channel, keyed by the channel's id for that person.

    external_id: LINE UID, Facebook PSID, Instagram IGSID, WeChat OpenID, website visitor id; for WhatsApp the
    E.164 phone number when the platform gives one, otherwise the business-scoped user id (then `phone` is
    empty and `business_scoped_id` holds the same value). See cdp/services/identity/resolve.py (normalize_identity) for
    normalisation.
    """

    team = team_column()

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="contacts")
    customer = models.ForeignKey("Customer", on_delete=models.PROTECT, related_name="contacts")
    external_id = models.CharField(_("渠道 ID"), max_length=128)
    phone = models.CharField(_("電話"), max_length=20, blank=True)
    business_scoped_id = models.CharField(_("WhatsApp 商家範圍 ID"), max_length=128, blank=True)
    display_name = models.CharField(_("名稱"), max_length=200, blank=True)
    status = models.CharField(
        _("訂閱狀態"), max_length=16, choices=SubscriptionStatus.choices, default=SubscriptionStatus.SUBSCRIBED
    )
    subscribed_at = models.DateTimeField(_("加入訂閱時間"), null=True, blank=True)
    status_changed_at = models.DateTimeField(_("狀態變更時間"), null=True, blank=True)
    last_customer_interaction_at = models.DateTimeField(_("客人最後互動時間"), null=True, blank=True)
    last_team_marketing_at = models.DateTimeField(_("團隊最後行銷時間"), null=True, blank=True)
    last_team_interaction_at = models.DateTimeField(_("團隊最後互動時間"), null=True, blank=True)
    omo_staff = models.CharField(_("綁定成員"), max_length=120, blank=True)
    omo_branch = models.CharField(_("綁定分店"), max_length=120, blank=True)
    fb_recurring_optin = models.BooleanField(_("訂閱 FB 定期通知"), default=False)
    fb_recurring_token = models.CharField(max_length=255, blank=True)
    unsubscribed_broadcast = models.BooleanField(_("取消訂閱推播訊息"), default=False)
    unsubscribed_web_push = models.BooleanField(_("取消訂閱官網顧客行銷推播"), default=False)
    unsubscribed_cart_remarketing = models.BooleanField(_("取消訂閱購物車再行銷訊息"), default=False)
    source = models.CharField(
        _("新聯絡人來源"), max_length=32, choices=ContactSource.choices, default=ContactSource.ORGANIC
    )
    source_detail = models.CharField(_("來源細節"), max_length=200, blank=True)
    # Maintained by cdp.quota: contacts beyond the quota (ordered by created_at, id; the newest are over).
    is_over_quota = models.BooleanField(_("超出名單配額"), default=False)
    created_at = models.DateTimeField(_("建立時間"), default=timezone.now)

    objects = ContactQuerySet.as_manager()

    class Meta:
        verbose_name = _("聯絡人")
        verbose_name_plural = _("聯絡人")
        constraints = [
            models.UniqueConstraint(fields=["team", "channel", "external_id"], name="contact_unique_team_channel_ext")
        ]
        indexes = [
            models.Index(fields=["team", "channel", "status"], name="contact_team_channel_status"),
            models.Index(fields=["team", "customer"], name="contact_team_customer"),
            models.Index(fields=["team", "created_at", "id"], name="contact_team_created"),
            models.Index(fields=["team", "channel", "created_at"], name="contact_team_channel_created"),
            models.Index(fields=["team", "source", "created_at"], name="contact_team_source_created"),
            models.Index(fields=["team", "phone"], name="contact_team_phone"),
            models.Index(fields=["team", "external_id"], name="contact_team_external_id"),
            models.Index(fields=["team", "channel", "last_customer_interaction_at"], name="contact_team_ch_lci"),
        ]

    def __str__(self):
        return f"{self.channel.kind}:{self.external_id}"

    @property
    def is_valid(self):
        return self.status == SubscriptionStatus.SUBSCRIBED

    def is_unsubscribed_from(self, scope):
        return getattr(self, f"unsubscribed_{scope}")

    def not_receiving_reason(self, scope=UnsubscribeScope.BROADCAST):
        """Why this contact may not receive marketing of ``scope`` ("" when it may): ``receiving_q`` for one row."""
        if self.status == SubscriptionStatus.BLOCKED:
            return "blocked"
        if self.is_unsubscribed_from(UnsubscribeScope(scope).value):
            return "unsubscribed"
        if self.is_over_quota:
            return "over_quota"
        return ""


class BindingMethod(models.TextChoices):
    """How a contact was bound to a website member (seed 000 社群身份綁定來源, plus coupon, OmniLink, API)."""

    BINDING_PLUGIN = "binding_plugin", _("社群綁定插件")
    CHATBOT_TO_WEBSITE = "chatbot_to_website", _("機器人導向官網")
    CART_REMARKETING = "cart_remarketing", _("購物車再行銷")
    PIXEL = "pixel", _("Pixel（WhatsApp 限定）")
    COUPON = "coupon", _("優惠券")
    OMNILINK = "omnilink", "OmniLink"
    API = "api", "API"
    SMS_CODE = "sms_code", _("手機綁定發送簡訊")


class CustomerQuerySet(TeamQuerySet):
    def active(self):
        """Customers that exist now: not absorbed into another by a merge."""
        return self.filter(merged_into__isnull=True)

    def search(self, team, term):
        """Customers matching `term`: member id, phone, email, channel id (contact external_id), tag or name prefix.

        The one customer search (issue 22.3): the console list, the API's `search` and "test a journey" use it.
        Exact identifiers are resolved first with small indexed lookups (member id, email, phone in any form
        normalise_phone reads with the team's region, e.g. 0912-345-678, contact external id, tag name); only when
        none of them hits is the term used as a name prefix. So an id search costs a few index probes however old
        the customer, and the query never ORs an unindexable condition with a subquery.
        """
        term = (term or "").strip()
        if not term:
            return self.all()
        customers = Customer.objects.for_team(team).active()  # matches the partial unique index on member_id
        contacts = Contact.objects.for_team(team)
        ids = set(customers.filter(member_id=term).values_list("pk", flat=True)[:SEARCH_MAX_EXACT])
        ids.update(contacts.filter(external_id=term).values_list("customer_id", flat=True)[:SEARCH_MAX_EXACT])
        if "@" in term:
            ids.update(customers.filter(email=term.lower()).values_list("pk", flat=True)[:SEARCH_MAX_EXACT])
        digits = term.replace(" ", "").replace("-", "")
        if digits.lstrip("+").isdigit() and len(digits) >= 8:
            try:
                phone = normalize_phone(digits, team.default_region or "TW")
            except ValidationError:
                phone = ""
            if phone:
                ids.update(customers.filter(phone=phone).values_list("pk", flat=True)[:SEARCH_MAX_EXACT])
                ids.update(contacts.filter(phone=phone).values_list("customer_id", flat=True)[:SEARCH_MAX_EXACT])
        query = Q(pk__in=sorted(ids)) if ids else Q()
        tag_ids = list(Tag.objects.filter(team=team, name=term).values_list("id", flat=True)[:1])
        if tag_ids:
            tagged = Q(Exists(CustomerTag.objects.filter(team=team, customer=OuterRef("pk"), tag_id=tag_ids[0])))
            query = (query | tagged) if ids else tagged
        if not ids and not tag_ids:
            query = Q(name__startswith=term)
        return self.filter(query)


class Customer(TeamOwned):
    """The omni-customer (全渠道顧客): every contact bound to the same member is one customer."""

    team = team_column()

    member_id = models.CharField(_("會員編號"), max_length=128, null=True, blank=True)
    phone = models.CharField(_("電話"), max_length=20, blank=True)
    email = models.EmailField(_("Email"), max_length=254, blank=True)
    name = models.CharField(_("姓名"), max_length=200, blank=True)
    is_bound = models.BooleanField(_("社群身份綁定"), default=False)
    first_bound_at = models.DateTimeField(_("首次綁定時間"), null=True, blank=True)
    first_bound_method = models.CharField(_("首次綁定方式"), max_length=32, choices=BindingMethod.choices, blank=True)
    is_member = models.BooleanField(_("官網會員"), default=False)
    member_since = models.DateTimeField(_("成為會員時間"), null=True, blank=True)
    last_customer_interaction_at = models.DateTimeField(_("跨渠道客人最後互動時間"), null=True, blank=True)
    last_team_marketing_at = models.DateTimeField(_("跨渠道團隊最後行銷時間"), null=True, blank=True)
    last_team_interaction_at = models.DateTimeField(_("跨渠道團隊最後互動時間"), null=True, blank=True)
    last_checkout_at = models.DateTimeField(_("最後結帳時間"), null=True, blank=True)
    points_balance = models.IntegerField(_("點數餘額"), default=0)
    points_accumulated = models.IntegerField(_("累積點數"), default=0)
    # Set when a merge absorbed this customer; the row stays (read-only) so the merge can be undone.
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="absorbed")
    created_at = models.DateTimeField(_("建立時間"), default=timezone.now)
    updated_at = models.DateTimeField(_("更新時間"), auto_now=True)

    objects = CustomerQuerySet.as_manager()

    class Meta:
        verbose_name = _("全渠道顧客")
        verbose_name_plural = _("全渠道顧客")
        constraints = [
            models.UniqueConstraint(
                fields=["team", "member_id"],
                condition=Q(member_id__isnull=False, merged_into__isnull=True),
                name="customer_unique_team_member_id",
            )
        ]
        indexes = [
            models.Index(fields=["team", "phone"], name="customer_team_phone"),
            models.Index(fields=["team", "email"], name="customer_team_email"),
            models.Index(fields=["team", "created_at", "id"], name="customer_team_created"),
            models.Index(fields=["team", "last_customer_interaction_at", "id"], name="customer_team_lci_id"),
            models.Index(fields=["team", "last_team_interaction_at"], name="customer_team_lti"),
            models.Index(fields=["team", "last_team_marketing_at"], name="customer_team_ltm"),
            models.Index(fields=["team", "last_checkout_at"], name="customer_team_checkout"),
            models.Index(fields=["team", "is_bound", "is_member"], name="customer_team_bound_member"),
            # The list's name-prefix search (LIKE 'term%'): pattern ops so PostgreSQL can use it in any collation.
            models.Index(
                fields=["team", "name"], name="customer_team_name_prefix", opclasses=["int8_ops", "varchar_pattern_ops"]
            ),
        ]

    def __str__(self):
        return self.name or self.member_id or self.email or self.phone or f"#{self.pk}"


class Tag(TeamOwned):
    name = models.CharField(_("標籤名稱"), max_length=100)
    archived_at = models.DateTimeField(_("封存時間"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("標籤")
        verbose_name_plural = _("標籤")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="tag_unique_team_name")]

    def __str__(self):
        return self.name


class CustomerTag(TeamOwned):
    """A tag on a customer, with where it came from (any channel's contact, API, import, journey, console)."""

    team = team_column()

    # customer_id alone is covered by the (customer, tag) unique index.
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="customer_tags", db_index=False)
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="customer_tags")
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    source = models.CharField(_("來源"), max_length=32, default="api")
    applied_at = models.DateTimeField(_("貼標時間"), default=timezone.now)

    class Meta:
        verbose_name = _("顧客標籤")
        verbose_name_plural = _("顧客標籤")
        constraints = [
            models.UniqueConstraint(fields=["customer", "tag", "team"], name="customertag_unique_customer_tag")
        ]
        indexes = [models.Index(fields=["team", "tag", "customer"], name="customertag_team_tag_customer")]


class AttributeType(models.TextChoices):
    TEXT = "text", _("文字")
    NUMBER = "number", _("數字")
    DATE = "date", _("日期")
    DATETIME = "datetime", _("日期時間")
    BOOLEAN = "boolean", _("是 / 否")


class CustomAttributeQuerySet(TeamQuerySet):
    def active(self):
        return self.filter(archived_at__isnull=True)


class CustomAttribute(TeamOwned):
    """A team-defined, typed customer field (自訂屬性). Keys match [A-Za-z0-9_]+ and are case-sensitive."""

    key = models.CharField(_("屬性代碼"), max_length=64)
    label = models.CharField(_("顯示名稱"), max_length=120)
    type = models.CharField(_("類型"), max_length=16, choices=AttributeType.choices, default=AttributeType.TEXT)
    archived_at = models.DateTimeField(_("封存時間"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CustomAttributeQuerySet.as_manager()

    class Meta:
        verbose_name = _("自訂屬性")
        verbose_name_plural = _("自訂屬性")
        ordering = ["key"]
        constraints = [models.UniqueConstraint(fields=["team", "key"], name="attribute_unique_team_key")]

    def __str__(self):
        return self.key

    @property
    def is_active(self):
        return self.archived_at is None


class AttributeTypeChange(TeamOwned):
    """A recorded type change: journeys that depend on the attribute stop (seed 002)."""

    attribute = models.ForeignKey(CustomAttribute, on_delete=models.CASCADE, related_name="type_changes")
    old_type = models.CharField(max_length=16, choices=AttributeType.choices)
    new_type = models.CharField(max_length=16, choices=AttributeType.choices)
    changed_at = models.DateTimeField(default=timezone.now)


class AttributeValue(TeamOwned):
    """One customer's value of one attribute, in the typed column of its type (indexed for range filters)."""

    # Both covered by composite indexes: (customer, attribute) unique, and (attribute, <typed value>).
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="attribute_values", db_index=False)
    attribute = models.ForeignKey(CustomAttribute, on_delete=models.CASCADE, related_name="values", db_index=False)
    text_value = models.CharField(max_length=1000, null=True, blank=True)
    number_value = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    datetime_value = models.DateTimeField(null=True, blank=True)
    bool_value = models.BooleanField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "attribute", "team"], name="attrvalue_unique_customer_attribute"
            )
        ]
        indexes = [
            # Covering on PostgreSQL: an audience's attribute condition reads its customers from the index alone.
            models.Index(fields=["attribute", "text_value"], name="attrvalue_attr_text", include=["team", "customer"]),
            models.Index(
                fields=["attribute", "number_value"], name="attrvalue_attr_number", include=["team", "customer"]
            ),
            models.Index(
                fields=["attribute", "datetime_value"], name="attrvalue_attr_datetime", include=["team", "customer"]
            ),
            models.Index(fields=["attribute", "bool_value"], name="attrvalue_attr_bool"),
        ]

    @property
    def value(self):
        kind = self.attribute.type
        if kind == AttributeType.TEXT:
            return self.text_value
        if kind == AttributeType.NUMBER:
            return self.number_value
        if kind == AttributeType.DATE:
            return self.datetime_value.date() if self.datetime_value else None
        if kind == AttributeType.DATETIME:
            return self.datetime_value
        return self.bool_value


class Binding(TeamOwned):
    """社群身份綁定: one contact bound to a website member identity, by a method, at a time."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="bindings")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="bindings")
    method = models.CharField(_("綁定方式"), max_length=32, choices=BindingMethod.choices)
    member_id = models.CharField(max_length=128, blank=True)
    phone = models.CharField(max_length=20, blank=True)
    email = models.CharField(max_length=254, blank=True)
    bound_at = models.DateTimeField(_("綁定時間"))
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("社群身份綁定")
        verbose_name_plural = _("社群身份綁定")
        indexes = [
            models.Index(fields=["team", "bound_at"], name="binding_team_bound_at"),
            models.Index(fields=["team", "method", "bound_at"], name="binding_team_method_bound_at"),
            models.Index(fields=["team", "contact"], name="binding_team_contact"),
        ]


class EventType(models.TextChoices):
    CONTACT_CREATED = "contact_created", _("新聯絡人")
    SUBSCRIBED = "subscribed", _("訂閱")
    UNSUBSCRIBED = "unsubscribed", _("取消訂閱")
    BLOCKED = "blocked", _("封鎖")
    MEMBER_REGISTERED = "member_registered", _("註冊會員")
    MEMBER_LOGIN = "member_login", _("會員登入")
    BINDING = "binding", _("社群身份綁定")
    CHECKOUT_COMPLETED = "checkout_completed", _("完成結帳")
    TAG_ADDED = "tag_added", _("新增標籤")
    TAG_REMOVED = "tag_removed", _("移除標籤")
    ATTRIBUTE_CHANGED = "attribute_changed", _("自訂屬性變更")
    POINTS_CHANGED = "points_changed", _("點數變更")
    MERGED = "merged", _("顧客合併")
    UNMERGED = "unmerged", _("取消合併")
    SYSTEM = "system", _("系統事件")
    COUPON_CLAIMED = "coupon_claimed", _("領取優惠券")
    COUPON_REDEEMED = "coupon_redeemed", _("兌換優惠券")


class CustomerEvent(TeamOwned):
    """The customer timeline. Analytics and journey triggers read it; occurred_at is when it happened.

    An append-only log, written only by services that have just read or written the rows it points at, in the
    same transaction: its foreign keys carry no database constraint, because each one costs a deferred check per
    event at commit, and an import writes about three events per row (a 100,000-row import spent 7.0 s of 19.9 s
    committing, 4.0 s without these checks). Deleting a customer, contact or channel still cascades or nulls
    through the ORM's on_delete, and seed_demo's flush deletes events first."""

    team = team_column(db_constraint=False)

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="events", db_constraint=False)
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="events", db_constraint=False
    )
    channel = models.ForeignKey(
        Channel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False
    )
    type = models.CharField(_("事件類型"), max_length=32, choices=EventType.choices)
    occurred_at = models.DateTimeField(_("發生時間"))
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("顧客事件")
        verbose_name_plural = _("顧客事件")
        indexes = [
            models.Index(fields=["team", "customer", "occurred_at"], name="event_team_customer_time"),
            models.Index(fields=["team", "type", "occurred_at"], name="event_team_type_time"),
            models.Index(fields=["team", "created_at"], name="event_team_created"),
        ]


class PointsSource(models.TextChoices):
    """Where a points change came from (社群點數)."""

    OPENING = "opening", _("期初餘額")
    JOURNEY = "journey", pgettext_lazy("points source", "旅程節點")  # journeys' heading is "Journey nodes"
    API = "api", _("API")
    IMPORT = "import", _("匯入")
    ADMIN = "admin", _("後台調整")
    COUPON = "coupon", _("優惠券")
    ORDER = "order", _("訂單規則")
    UNMERGE = "unmerge", _("取消合併調整")


class PointsTransaction(TeamOwned):
    """The points ledger: one append-only row per change. A customer's points_balance is the sum of the deltas of
    the rows it holds (a merge moves the absorbed customer's rows to the survivor, an un-merge moves them back),
    and points_accumulated the sum of the positive ones."""

    team = team_column()
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="points_transactions")
    delta = models.IntegerField(_("點數變動"))
    balance_after = models.IntegerField(_("變動後餘額"))
    reason = models.CharField(_("原因"), max_length=200, blank=True)
    source = models.CharField(_("來源"), max_length=16, choices=PointsSource.choices)
    # Unique per team when set: a retried API call, journey step or order rule changes the balance once.
    idempotency_key = models.CharField(_("冪等鍵"), max_length=200, blank=True)
    occurred_at = models.DateTimeField(_("發生時間"), default=timezone.now)
    created_at = models.DateTimeField(_("建立時間"), default=timezone.now)

    class Meta:
        verbose_name = _("點數紀錄")
        verbose_name_plural = _("點數紀錄")
        constraints = [
            models.UniqueConstraint(
                fields=["team", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="points_unique_team_idempotency_key",
            )
        ]
        indexes = [models.Index(fields=["team", "customer", "id"], name="points_team_customer_id")]


class Order(TeamOwned):
    """A completed checkout (checkout.completed). Journeys attribute revenue from these."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    order_id = models.CharField(_("訂單編號"), max_length=128)
    amount = models.DecimalField(_("金額"), max_digits=14, decimal_places=2)
    currency = models.CharField(_("幣別"), max_length=3)
    items = models.JSONField(default=list, blank=True)
    occurred_at = models.DateTimeField(_("結帳時間"))
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("訂單")
        verbose_name_plural = _("訂單")
        constraints = [models.UniqueConstraint(fields=["team", "order_id"], name="order_unique_team_order_id")]
        indexes = [models.Index(fields=["team", "customer", "occurred_at"], name="order_team_customer_time")]


class MergeRecord(TeamOwned):
    """An audited merge: which customer absorbed which, on what evidence, with a snapshot to undo it."""

    survivor = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="merges_as_survivor")
    absorbed = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="merges_as_absorbed")
    evidence = models.JSONField(default=dict)
    snapshot = models.JSONField(default=dict)
    merged_at = models.DateTimeField(default=timezone.now)
    unmerged_at = models.DateTimeField(null=True, blank=True)
    unmerged_by = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name = _("合併紀錄")
        verbose_name_plural = _("合併紀錄")
        ordering = ["-merged_at"]
        indexes = [models.Index(fields=["team", "merged_at"], name="merge_team_merged_at")]


class EventReceipt(TeamOwned):
    """Idempotency for POST /api/v1/events: a client event id is applied once per team."""

    event_id = models.CharField(max_length=128)
    type = models.CharField(max_length=40)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "event_id"], name="eventreceipt_unique_team_event")]


class ImportStatus(models.TextChoices):
    PENDING = "pending", _("等待中")
    RUNNING = "running", _("匯入中")
    DONE = "done", _("完成")
    FAILED = "failed", _("失敗")


class ImportKind(models.TextChoices):
    """What a CSV import writes: customers and contacts (seed 001 §6), or points ledger rows (社群點數)."""

    CUSTOMERS = "customers", pgettext_lazy("import kind", "顧客資料")
    POINTS = "points", _("社群點數")


class ImportJob(TeamOwned):
    """A CSV import (seed 001 §6): into a channel by its id column, or by member id; or points for the customers
    the rows name (kind points). Runs in the background."""

    kind = models.CharField(_("匯入類型"), max_length=16, choices=ImportKind.choices, default=ImportKind.CUSTOMERS)
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    file = models.FileField(upload_to="imports/")
    original_name = models.CharField(max_length=255, blank=True)
    # {"key_column": "...", "key_kind": "external_id" | "phone" | "member_id" (points: or "email"),
    #  "columns": {csv column: target}}
    mapping = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=ImportStatus.choices, default=ImportStatus.PENDING)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    applied_rows = models.PositiveIntegerField(default=0)
    error_rows = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)  # [{"row": n, "errors": {"column": ["message"]}}]
    created_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    # Written with every chunk: a running job whose heartbeat is old lost its worker and is resumed (cdp.imports).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    @property
    def target_label(self):
        """Where the rows go, as the console lists a job: 社群點數, its channel, or 會員編號."""
        if self.kind == ImportKind.POINTS:
            return self.get_kind_display()
        return str(self.channel) if self.channel_id else _("會員編號")

    class Meta:
        verbose_name = _("匯入工作")
        verbose_name_plural = _("匯入工作")
        ordering = ["-created_at"]


class OmoKind(models.TextChoices):
    STAFF = "staff", _("店員")
    BRANCH = "branch", _("分店")


class OmoMember(TeamOwned):
    """OMO 綁定: one staff member or branch of the team's list. Its QR code / link carries `code` (cdp.services.omo);
    a contact joining or writing through it is bound to it (Contact.omo_staff / omo_branch hold the names)."""

    kind = models.CharField(_("類型"), max_length=8, choices=OmoKind.choices)
    name = models.CharField(_("名稱"), max_length=120)
    code = models.CharField(_("綁定代碼"), max_length=16, editable=False)
    is_active = models.BooleanField(_("啟用"), default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("店員 / 分店")
        verbose_name_plural = _("店員 / 分店")
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["team", "code"], name="omomember_unique_team_code"),
            models.UniqueConstraint(fields=["team", "kind", "name"], name="omomember_unique_team_kind_name"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} · {self.name}"


class OmoMethod(models.TextChoices):
    """The four OMO 綁定 triggers of seed 000's table."""

    QR = "qr", _("店員 QR Code")
    MANUAL = "manual", _("手動新增客戶")
    KEYWORD = "keyword", _("關鍵字自動指派（分店 QR Code / 連結）")
    TRANSFER = "transfer", _("手動移轉")


class OmoAssignment(TeamOwned):
    """Who a contact was bound to, by which trigger, from whom (a transfer keeps the previous name), by whom."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="omo_assignments")
    member = models.ForeignKey(OmoMember, on_delete=models.PROTECT, related_name="assignments")
    method = models.CharField(_("方式"), max_length=16, choices=OmoMethod.choices)
    previous = models.CharField(_("原綁定"), max_length=120, blank=True)
    by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(_("時間"), default=timezone.now)

    class Meta:
        verbose_name = _("OMO 綁定紀錄")
        verbose_name_plural = _("OMO 綁定紀錄")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["team", "contact", "at"], name="omoassignment_team_contact")]
