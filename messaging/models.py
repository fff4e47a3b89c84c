"""Messaging data: raw webhook events, the outbox, message content, keyword rules and per-channel state.

Every table carries `team`; every unique constraint includes it. Times are UTC. Inbound times are the
platform's event timestamps; outbound times are when the platform accepted / reported the message.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import TeamOwned, TeamQuerySet
from cdp.encryption import EncryptedJSONField


class ModuleType(models.TextChoices):
    TEXT_BUTTONS = "text_buttons", _("文字按鈕訊息")
    CAROUSEL = "carousel", _("輪播訊息")
    IMAGE_CAROUSEL = "image_carousel", _("圖片輪播訊息")
    IMAGE_MAP = "image_map", _("圖文訊息")
    COUPON_CARD = "coupon_card", _("優惠券卡片")
    # Made and edited by an OmniLink campaign (omnilink app), sent like any module; its button is a link per recipient.
    OMNILINK_CARD = "omnilink_card", _("OmniLink 卡片")


# The types a user builds in the module editor / API (an OmniLink card belongs to its campaign).
EDITABLE_MODULE_TYPES = tuple(t for t in ModuleType.values if t != ModuleType.OMNILINK_CARD)


# Seed 003: the LINE message types whose opens can be tracked (all five module types; plain text cannot).
LINE_TRACKABLE_TYPES = frozenset(ModuleType.values)


class AliveQuerySet(TeamQuerySet):
    def alive(self):
        return self.filter(deleted_at__isnull=True)


class ChatbotModule(TeamOwned):
    """機器人模組: reusable rich content, rendered to each platform's format at send time
    (messaging.services.content)."""

    name = models.CharField(_("名稱"), max_length=200)
    type = models.CharField(_("模組類型"), max_length=20, choices=ModuleType.choices)
    content = models.JSONField(_("內容"), default=dict)
    created_at = models.DateTimeField(_("建立時間"), default=timezone.now)
    updated_at = models.DateTimeField(_("更新時間"), auto_now=True)
    deleted_at = models.DateTimeField(_("刪除時間"), null=True, blank=True)

    objects = AliveQuerySet.as_manager()

    class Meta:
        verbose_name = _("機器人模組")
        verbose_name_plural = _("機器人模組")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["team", "deleted_at"], name="module_team_deleted")]

    def __str__(self):
        return self.name


class TemplateStatus(models.TextChoices):
    APPROVED = "approved", _("已核准")
    PENDING = "pending", _("審核中")
    REJECTED = "rejected", _("已拒絕")
    PAUSED = "paused", _("已暫停")
    DISABLED = "disabled", _("已停用")


class TemplateCategory(models.TextChoices):
    MARKETING = "marketing", _("行銷")
    UTILITY = "utility", _("公用程式")
    AUTHENTICATION = "authentication", _("驗證")


class WhatsAppTemplate(TeamOwned):
    """A WhatsApp message template (synced from the WhatsApp Business Management API where credentials exist)."""

    channel = models.ForeignKey("cdp.Channel", on_delete=models.CASCADE, related_name="whatsapp_templates")
    external_id = models.CharField(_("平台範本 ID"), max_length=64, blank=True)
    name = models.CharField(_("範本名稱"), max_length=512)
    language = models.CharField(_("語言"), max_length=16, default="zh_TW")
    category = models.CharField(
        _("類別"), max_length=20, choices=TemplateCategory.choices, default=TemplateCategory.MARKETING
    )
    body = models.TextField(_("內文"), blank=True)
    components = models.JSONField(default=list, blank=True)
    parameter_count = models.PositiveSmallIntegerField(_("參數數量"), default=0)
    status = models.CharField(_("狀態"), max_length=16, choices=TemplateStatus.choices, default=TemplateStatus.PENDING)
    unusable_reason = models.CharField(_("無法使用原因"), max_length=200, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(_("刪除時間"), null=True, blank=True)

    objects = AliveQuerySet.as_manager()

    class Meta:
        verbose_name = _("WhatsApp 範本")
        verbose_name_plural = _("WhatsApp 範本")
        ordering = ["name", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "channel", "name", "language"], name="watemplate_unique_team_channel_name_lang"
            )
        ]

    def __str__(self):
        return f"{self.name} ({self.language})"


class Origin(models.TextChoices):
    BROADCAST = "broadcast", _("推播")
    JOURNEY = "journey", _("顧客旅程")
    AGENT = "agent", _("客服回覆")
    AUTO_REPLY = "auto_reply", _("關鍵字自動回覆")
    QUICK_SMS = "quick_sms", _("LINE 通知快捷發送簡訊")
    PHONE_BINDING = "phone_binding", _("手機綁定發送簡訊")
    OMNILINK = "omnilink", "OmniLink"


# The SMS features (seed 004): the origins whose sends are billed per 則 from the account balance.
SMS_FEATURES = (Origin.QUICK_SMS, Origin.PHONE_BINDING)


class OutboundStatus(models.TextChoices):
    QUEUED = "queued", _("排隊中")
    SENDING = "sending", _("發送中")
    SENT = "sent", _("已發送")
    DELIVERED = "delivered", _("已送達")
    READ = "read", _("已讀")
    FAILED = "failed", _("發送失敗")


SUCCESSFUL_STATUSES = (OutboundStatus.SENT, OutboundStatus.DELIVERED, OutboundStatus.READ)


class OutboundQuerySet(TeamQuerySet):
    def successful(self):
        return self.filter(status__in=SUCCESSFUL_STATUSES)


class OutboundMessage(TeamOwned):
    """The outbox: one row per message to one contact, committed before the provider is called.

    `idempotency_key` (unique per team) makes enqueueing idempotent; `retry_key` is sent as LINE's
    X-Line-Retry-Key so a re-sent claim is accepted once by the platform.
    """

    channel = models.ForeignKey("cdp.Channel", on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey("cdp.Contact", on_delete=models.CASCADE, related_name="outbound_messages")
    content = models.JSONField(default=dict)
    origin = models.CharField(_("來源"), max_length=16, choices=Origin.choices)
    origin_id = models.CharField(max_length=64, blank=True, default="")
    idempotency_key = models.CharField(max_length=200)
    retry_key = models.UUIDField(default=uuid.uuid4, editable=False)
    # LINE auto-replies: the webhook's replyToken (free reply API) and when it stops being usable.
    reply_token = models.CharField(max_length=255, blank=True, default="")
    reply_token_expires_at = models.DateTimeField(null=True, blank=True)
    multicast_group = models.UUIDField(null=True, blank=True, editable=False)
    status = models.CharField(_("狀態"), max_length=16, choices=OutboundStatus.choices, default=OutboundStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(_("錯誤代碼"), max_length=64, blank=True)
    error_reason = models.CharField(_("失敗原因"), max_length=500, blank=True)
    provider_message_id = models.CharField(max_length=200, blank=True)
    # Open-trackable (seed 003: LINE module types) and the tracked button/link targets, fixed at render time.
    trackable = models.BooleanField(default=False)
    links = models.JSONField(default=dict, blank=True)  # {"urls": [...], "images": [...]}
    preview = models.CharField(_("內容摘要"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("建立時間"), default=timezone.now)
    sent_at = models.DateTimeField(_("發送時間"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("送達時間"), null=True, blank=True)
    read_at = models.DateTimeField(_("已讀時間"), null=True, blank=True)
    opened_at = models.DateTimeField(_("開封時間"), null=True, blank=True)
    clicked_at = models.DateTimeField(_("點擊時間"), null=True, blank=True)
    replied_at = models.DateTimeField(_("回應時間"), null=True, blank=True)
    cost = models.DecimalField(_("費用"), max_digits=10, decimal_places=4, default=0)
    cost_currency = models.CharField(max_length=3, blank=True)
    # SMS: the E.164 number sent to (the contact's channel id is not a phone), and the 則 it was billed for.
    recipient = models.CharField(_("收件號碼"), max_length=20, blank=True, default="")
    segments = models.PositiveSmallIntegerField(_("則數"), default=0)

    objects = OutboundQuerySet.as_manager()

    class Meta:
        verbose_name = _("發送訊息")
        verbose_name_plural = _("發送訊息")
        constraints = [
            models.UniqueConstraint(fields=["team", "idempotency_key"], name="outbound_unique_team_idempotency")
        ]
        indexes = [
            models.Index(fields=["next_attempt_at", "id"], condition=Q(status="queued"), name="outbound_queued_due"),
            models.Index(fields=["claimed_until"], condition=Q(status="sending"), name="outbound_sending_claim"),
            models.Index(fields=["team", "contact", "sent_at"], name="outbound_team_contact_sent"),
            models.Index(fields=["team", "origin", "origin_id"], name="outbound_team_origin"),
            models.Index(fields=["channel", "provider_message_id"], name="outbound_channel_provider_id"),
            models.Index(fields=["team", "created_at"], name="outbound_team_created"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.origin} → {self.contact_id} ({self.status})"


class InboundMessage(TeamOwned):
    """A message from the customer (text, sticker, image, postback, ...), kept for the conversation view."""

    channel = models.ForeignKey("cdp.Channel", on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey("cdp.Contact", on_delete=models.CASCADE, related_name="inbound_messages")
    external_id = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=32, default="text")
    text = models.TextField(blank=True)
    occurred_at = models.DateTimeField(_("時間"))
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("收到的訊息")
        verbose_name_plural = _("收到的訊息")
        indexes = [
            models.Index(fields=["team", "contact", "occurred_at"], name="inbound_team_contact_time"),
            models.Index(fields=["team", "occurred_at"], name="inbound_team_time"),
        ]


class WebhookPlatform(models.TextChoices):
    LINE = "line", "LINE"
    META = "meta", "Meta"
    WHATSAPP = "whatsapp", "WhatsApp"


class WebhookEventState(models.TextChoices):
    PENDING = "pending", _("待處理")
    PROCESSED = "processed", _("已處理")
    FAILED = "failed", _("處理失敗")  # bad data: `error` says why; never retried
    REJECTED = (
        "rejected",
        _("已拒收"),
    )  # refused at receipt (a page not connected, an absurd timestamp); never processed


class WebhookEvent(TeamOwned):
    """One raw platform event, stored at receipt (deduplicated by the platform's id), processed by a worker.

    `processed_at` is when the event left the work queue (processed, failed, or rejected at receipt). A group
    that failed for a transient reason (the database connection, a timeout) stays pending with `retry_at`."""

    channel = models.ForeignKey("cdp.Channel", on_delete=models.CASCADE, related_name="+")
    dedup_key = models.CharField(max_length=255)
    kind = models.CharField(max_length=32)
    # The platform id of the person the event is about (LINE userId, PSID, IGSID, wa_id / BSUID).
    user_key = models.CharField(max_length=128, blank=True)
    occurred_at = models.DateTimeField()
    payload = models.JSONField(default=dict)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(
        max_length=16, choices=WebhookEventState, default=WebhookEventState.PENDING, db_default="pending"
    )
    error = models.CharField(max_length=500, blank=True)  # why it failed or was rejected; the last transient error
    attempts = models.PositiveSmallIntegerField(default=0, db_default=0)  # transient failures so far
    retry_at = models.DateTimeField(null=True, blank=True)  # a pending event is not claimed before this

    class Meta:
        verbose_name = _("Webhook 事件")
        verbose_name_plural = _("Webhook 事件")
        constraints = [models.UniqueConstraint(fields=["team", "dedup_key"], name="webhookevent_unique_team_dedup")]
        indexes = [
            models.Index(
                fields=["occurred_at", "id"], condition=Q(processed_at__isnull=True), name="webhookevent_pending"
            ),
        ]


class ChannelState(TeamOwned):
    """Messaging's own state of a channel: message budget, LINE quota readings, last connection test."""

    # One row per channel: a foreign key with a (team, channel) unique constraint rather than a one-to-one field,
    # whose unique index would lack team (issue 22.8).
    channel = models.ForeignKey("cdp.Channel", on_delete=models.CASCADE, related_name="messaging_states")
    budget_exhausted_at = models.DateTimeField(_("額度用盡時間"), null=True, blank=True)
    budget_exhausted_until = models.DateTimeField(null=True, blank=True)
    budget_reason = models.CharField(_("額度用盡原因"), max_length=200, blank=True)
    quota_limit = models.IntegerField(_("每月訊息額度"), null=True, blank=True)
    quota_used = models.IntegerField(_("本月已用"), null=True, blank=True)
    quota_checked_at = models.DateTimeField(null=True, blank=True)
    last_test_at = models.DateTimeField(_("最後測試時間"), null=True, blank=True)
    last_test_ok = models.BooleanField(null=True)
    last_test_message = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name = _("渠道狀態")
        verbose_name_plural = _("渠道狀態")
        constraints = [models.UniqueConstraint(fields=["team", "channel"], name="channelstate_unique_team_channel")]


class MatchType(models.TextChoices):
    EXACT = "exact", _("完全符合")
    CONTAINS = "contains", _("包含關鍵字")


class KeywordRule(TeamOwned):
    """關鍵字自動回覆 / 指派: keywords → reply content, assign to staff or branch, add tags."""

    name = models.CharField(_("規則名稱"), max_length=200)
    channel = models.ForeignKey(
        "cdp.Channel", null=True, blank=True, on_delete=models.CASCADE, related_name="+", verbose_name=_("渠道")
    )
    keywords = models.JSONField(_("關鍵字"), default=list)
    match_type = models.CharField(_("比對方式"), max_length=10, choices=MatchType.choices, default=MatchType.EXACT)
    reply_text = models.TextField(_("回覆文字"), blank=True)
    reply_module = models.ForeignKey(
        ChatbotModule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("回覆模組")
    )
    assign_staff = models.CharField(_("指派成員"), max_length=120, blank=True)
    assign_branch = models.CharField(_("指派分店"), max_length=120, blank=True)
    tags = models.JSONField(_("貼上標籤"), default=list, blank=True)
    # 「手機綁定發送簡訊」 by chat: the rule starts the flow (ask the phone, send a code, check it).
    starts_phone_binding = models.BooleanField(_("啟動手機綁定流程"), default=False)
    is_active = models.BooleanField(_("啟用"), default=True)
    trigger_count = models.PositiveIntegerField(_("觸發次數"), default=0)
    last_triggered_at = models.DateTimeField(_("最後觸發時間"), null=True, blank=True)
    join_token = models.CharField(max_length=32, editable=False, blank=True)
    # WeChat: the permanent QR code made for the scene "kw-<join_token>" (what the QR image encodes).
    wechat_qr_url = models.CharField(max_length=300, editable=False, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("關鍵字規則")
        verbose_name_plural = _("關鍵字規則")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["team", "is_active"], name="keywordrule_team_active")]

    def __str__(self):
        return self.name

    def matches(self, text):
        text = (text or "").strip().casefold()
        if not text:
            return False
        words = [str(k).strip().casefold() for k in self.keywords if str(k).strip()]
        if self.match_type == MatchType.EXACT:
            return text in words
        return any(word in text for word in words)


class PhoneBindingChat(TeamOwned):
    """A contact inside the phone-binding chat flow: waiting for its phone (`phone` empty), then for the code."""

    contact = models.ForeignKey("cdp.Contact", on_delete=models.CASCADE, related_name="+")
    phone = models.CharField(max_length=20, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    class Meta:
        verbose_name = _("手機綁定對話")
        verbose_name_plural = _("手機綁定對話")
        constraints = [models.UniqueConstraint(fields=["team", "contact"], name="phonebindingchat_unique_contact")]


class PhoneBindingCode(TeamOwned):
    """手機綁定發送簡訊: a one-time code sent by SMS to prove a phone number, stored hashed (HMAC with the
    project's secret), valid MESSAGING_PHONE_CODE_MINUTES, tried at most MESSAGING_PHONE_CODE_ATTEMPTS times."""

    contact = models.ForeignKey("cdp.Contact", on_delete=models.CASCADE, related_name="+")
    phone = models.CharField(_("電話"), max_length=20)
    code_hash = models.CharField(max_length=64)
    message = models.ForeignKey(OutboundMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("手機綁定驗證碼")
        verbose_name_plural = _("手機綁定驗證碼")
        indexes = [
            models.Index(fields=["team", "contact", "created_at"], name="phonecode_team_contact"),
            models.Index(fields=["team", "phone", "created_at"], name="phonecode_team_phone"),
        ]


class Conversation(TeamOwned):
    """The inbox state of one contact's conversation: who it is assigned to and when the team last read it
    (inbound messages after `last_read_at` are unread). Created on first use; a contact without a row is
    unassigned and unread."""

    # One per contact through conversation_unique_contact (team, contact): a OneToOneField would add a unique index
    # without the team, which a table distributed by team cannot hold.
    contact = models.ForeignKey(
        "cdp.Contact", on_delete=models.CASCADE, related_name="conversations", related_query_name="conversation"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assigned_at = models.DateTimeField(_("指派時間"), null=True, blank=True)
    last_read_at = models.DateTimeField(_("最後讀取時間"), null=True, blank=True)
    # Kept by services.inbox_state where messages are recorded: the inbox list is ordered by last_message_at
    # and is unread when last_inbound_at is after last_read_at (no scan over the messages).
    last_message_at = models.DateTimeField(_("最後訊息時間"), null=True, blank=True)
    last_inbound_at = models.DateTimeField(_("顧客最後訊息時間"), null=True, blank=True)

    class Meta:
        verbose_name = _("對話")
        verbose_name_plural = _("對話")
        constraints = [models.UniqueConstraint(fields=["team", "contact"], name="conversation_unique_contact")]
        indexes = [
            models.Index(fields=["team", "assignee"], name="conversation_team_assignee"),
            models.Index(fields=["team", "-last_message_at"], name="conversation_team_last"),
        ]


class ConversationAssignment(TeamOwned):
    """The record of every (re)assignment: who assigned the conversation to whom (None: unassigned), when."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="assignments")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("時間"), default=timezone.now)

    class Meta:
        verbose_name = _("對話指派紀錄")
        verbose_name_plural = _("對話指派紀錄")
        indexes = [models.Index(fields=["team", "conversation", "created_at"], name="convassign_team_conv_time")]


class WeChatAccessToken(TeamOwned):
    """A WeChat channel's access token (cgi-bin/token, valid 7200 s), shared by every worker: one row per channel,
    fetched under its row lock so concurrent senders make one fetch (messaging.services.wechat_tokens)."""

    channel = models.ForeignKey("cdp.Channel", on_delete=models.CASCADE, related_name="+")
    secret = EncryptedJSONField(default=dict, blank=True)  # {"access_token": ...}, encrypted at rest
    expires_at = models.DateTimeField(null=True, blank=True)
    fetched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("WeChat access token")
        verbose_name_plural = _("WeChat access token")
        constraints = [models.UniqueConstraint(fields=["team", "channel"], name="wechattoken_unique_team_channel")]


class CommentField(models.TextChoices):
    """The Meta webhook fields a comment arrives by, and the new-contact source each leads to."""

    FEED = "feed", _("Facebook 貼文留言")
    COMMENTS = "comments", _("Instagram 貼文留言")
    LIVE_COMMENTS = "live_comments", _("Instagram 直播留言")


class CommentRule(TeamOwned):
    """留言自動回覆: a comment on a Page / Instagram post (or live video) that matches (keywords, or any comment)
    gets one private reply; the commenter's first message then creates the contact with the post-reply source."""

    name = models.CharField(_("規則名稱"), max_length=200)
    channel = models.ForeignKey(
        "cdp.Channel", null=True, blank=True, on_delete=models.CASCADE, related_name="+", verbose_name=_("渠道")
    )
    any_comment = models.BooleanField(_("任何留言都回覆"), default=False)
    keywords = models.JSONField(_("關鍵字"), default=list, blank=True)
    match_type = models.CharField(_("比對方式"), max_length=10, choices=MatchType.choices, default=MatchType.CONTAINS)
    reply_text = models.TextField(_("私訊回覆文字"))
    is_active = models.BooleanField(_("啟用"), default=True)
    trigger_count = models.PositiveIntegerField(_("觸發次數"), default=0)
    last_triggered_at = models.DateTimeField(_("最後觸發時間"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("留言自動回覆規則")
        verbose_name_plural = _("留言自動回覆規則")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["team", "is_active"], name="commentrule_team_active")]

    def __str__(self):
        return self.name

    def matches(self, text):
        if self.any_comment:
            return True
        text = (text or "").strip().casefold()
        if not text:
            return False
        words = [str(k).strip().casefold() for k in self.keywords if str(k).strip()]
        if self.match_type == MatchType.EXACT:
            return text in words
        return any(word in text for word in words)


class CommentReplyStatus(models.TextChoices):
    PENDING = "pending", _("等待中")
    SENDING = "sending", _("傳送中")
    SENT = "sent", _("已傳送")
    FAILED = "failed", _("失敗")


class CommentReply(TeamOwned):
    """The one private reply owed to a comment (unique per comment: redeliveries and a second rule never send
    twice). `recipient_id` is the PSID / IGSID the Send API answers with: that person's first message creates the
    contact with `source`."""

    channel = models.ForeignKey("cdp.Channel", on_delete=models.CASCADE, related_name="+")
    rule = models.ForeignKey(CommentRule, null=True, on_delete=models.SET_NULL, related_name="replies")
    field = models.CharField(max_length=16, choices=CommentField.choices)
    source = models.CharField(max_length=32)
    comment_id = models.CharField(max_length=128)
    commenter_id = models.CharField(max_length=128, blank=True)
    recipient_id = models.CharField(max_length=128, blank=True)
    text = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=CommentReplyStatus.choices, default=CommentReplyStatus.PENDING)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("留言私訊回覆")
        verbose_name_plural = _("留言私訊回覆")
        constraints = [
            models.UniqueConstraint(fields=["team", "channel", "comment_id"], name="commentreply_unique_comment")
        ]
        indexes = [
            models.Index(fields=["team", "channel", "recipient_id"], name="commentreply_team_recipient"),
            models.Index(fields=["status", "created_at"], name="commentreply_status"),
        ]


class FriendSyncStatus(models.TextChoices):
    PENDING = "pending", _("等待中")
    RUNNING = "running", _("同步中")
    DONE = "done", _("完成")
    FAILED = "failed", _("失敗")


class FriendSync(TeamOwned):
    """LINE 好友同步 (API 同步): the follower ids pages of a LINE Official Account, then each friend's profile.

    Resumable: `next_start` is the `start` token of the page not yet read, and the ids of the page being worked on
    wait in `pending_ids`; a worker that dies loses at most one in-flight profile call (redone, idempotent)."""

    channel = models.ForeignKey("cdp.Channel", on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=FriendSyncStatus.choices, default=FriendSyncStatus.PENDING)
    next_start = models.CharField(max_length=512, blank=True)
    pages_done = models.BooleanField(default=False)
    pending_ids = models.JSONField(default=list, blank=True)
    seen = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    existing = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)  # no profile any more (unfollowed or blocked meanwhile)
    attempts = models.PositiveSmallIntegerField(default=0)  # consecutive rate-limited / failed calls
    retry_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("LINE 好友同步")
        verbose_name_plural = _("LINE 好友同步")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["team", "channel", "created_at"], name="friendsync_team_channel")]

    @property
    def progress(self):
        """Percent of the friends seen so far that were handled (the total is unknown until the last page)."""
        if self.status == FriendSyncStatus.DONE:
            return 100
        total = self.seen
        if not total:
            return 0
        done = self.created + self.existing + self.skipped
        return min(99, int(done * 100 / total) if self.pages_done else int(done * 90 / total))
