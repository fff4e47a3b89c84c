"""OmniLink 跨社群一鍵整合 (seed 004): campaigns and their participants.

A participant is one (campaign, source contact): made by the first click on the card's link, it carries the
one-time code the customer sends on the target channel, and ends as a success or a failure with one of the seed's
seven reasons (or stays pending until the timeout sweep decides).
"""

from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import TeamOwned, TeamQuerySet
from cdp.models import Channel, Contact, Customer
from messaging.models import ChatbotModule

# The channel kinds a campaign may link (seed: LINE / Messenger / Instagram / WhatsApp).
CAMPAIGN_CHANNEL_KINDS = ("line", "facebook", "instagram", "whatsapp")


class FailureReason(models.TextChoices):
    """The seed's seven failure reasons: stable codes (API, CSV) and the seed's zh-Hant labels."""

    CAMPAIGN_DISABLED = "campaign_disabled", _("跨社群一鍵整合已停用")
    LINK_UNAVAILABLE = "link_unavailable", _("無法產生整合連結")
    SOURCE_CONTACT_NOT_FOUND = "source_contact_not_found", _("無法找到來源渠道聯絡人")
    TARGET_CONTACT_NOT_FOUND = "target_contact_not_found", _("無法找到目標渠道聯絡人")
    MEMBER_ID_CONFLICT = "member_id_conflict", _("會員編號衝突")
    SERVER_ERROR = "server_error", _("伺服器錯誤")
    NOT_COMPLETED = "not_completed", _("因顧客未送出整合訊息或未安裝目標渠道 APP 失敗")


class ParticipantStatus(models.TextChoices):
    PENDING = "pending", _("等待整合")
    SUCCESS = "success", _("整合成功")
    FAILURE = "failure", _("整合失敗")


class Campaign(TeamOwned):
    """跨社群一鍵整合活動. The card is a chatbot module (type omnilink_card) so broadcasts, journeys and keyword
    auto-replies send it like any other module; its content is the card and the campaign's id."""

    name = models.CharField(_("活動名稱"), max_length=200)
    source_channel = models.ForeignKey(
        Channel, verbose_name=_("來源渠道"), on_delete=models.PROTECT, related_name="omnilink_sources"
    )
    target_channel = models.ForeignKey(
        Channel, verbose_name=_("目標渠道"), on_delete=models.PROTECT, related_name="omnilink_targets"
    )
    # One campaign per card through omnilink_one_card (team, card_module), not a OneToOneField's team-less index.
    card_module = models.ForeignKey(
        ChatbotModule, verbose_name=_("卡片"), on_delete=models.PROTECT, null=True, related_name="omnilink_campaigns"
    )
    integration_message = models.CharField(_("整合訊息"), max_length=500)
    confirmation_message = models.CharField(_("整合成功回覆訊息"), max_length=1000, blank=True)
    is_enabled = models.BooleanField(_("啟用"), default=True)
    ends_at = models.DateTimeField(_("結束時間"), null=True, blank=True)
    completion_hours = models.PositiveIntegerField(_("完成整合時限（小時）"), default=24)
    created_at = models.DateTimeField(_("建立時間"), default=timezone.now)
    updated_at = models.DateTimeField(_("更新時間"), auto_now=True)

    class Meta:
        verbose_name = _("跨社群一鍵整合活動")
        verbose_name_plural = _("跨社群一鍵整合活動")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["team", "created_at"], name="omnilink_campaign_team")]
        constraints = [models.UniqueConstraint(fields=["team", "card_module"], name="omnilink_one_card")]

    def __str__(self):
        return self.name

    @property
    def card(self):
        return (self.card_module.content if self.card_module_id else {}) or {}

    def has_ended(self, now=None):
        return self.ends_at is not None and (now or timezone.now()) >= self.ends_at


class ParticipantQuerySet(TeamQuerySet):
    def bulk_create(self, objs, *args, **kwargs):
        """Participants made in bulk (tests, data tools) are added to the daily counts too, in the same
        transaction; ignoring or updating conflicts would hide which rows were inserted, so it is refused."""
        if kwargs.get("ignore_conflicts") or kwargs.get("update_conflicts"):
            raise ValueError("Participant.bulk_create cannot skip or update conflicts: the daily counts need the rows")
        from . import rollup

        with transaction.atomic(using=self.db):
            created = super().bulk_create(objs, *args, **kwargs)
            rollup.record_created(created)
        return created


class Participant(TeamOwned):
    """One (campaign, source contact): first click, one-time code, outcome. Every new row is added to the
    campaign's DailyCount (save() / create() / bulk_create(), in the insert's transaction); status changes are made
    by omnilink.services only, which record their delta the same way."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="participants")
    # The contact id the link named (kept when the contact row is gone: 無法找到來源渠道聯絡人).
    source_contact_ref = models.BigIntegerField(_("來源聯絡人 ID"))
    source_contact = models.ForeignKey(
        Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_constraint=True
    )
    target_contact = models.ForeignKey(Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    status = models.CharField(
        _("狀態"), max_length=10, choices=ParticipantStatus.choices, default=ParticipantStatus.PENDING
    )
    reason = models.CharField(_("失敗原因"), max_length=32, choices=FailureReason.choices, blank=True)
    code = models.CharField(_("整合代碼"), max_length=16, blank=True)
    first_clicked_at = models.DateTimeField(_("參與時間"))
    deadline_at = models.DateTimeField(_("整合期限"))
    completed_at = models.DateTimeField(_("完成時間"), null=True, blank=True)
    target_is_new = models.BooleanField(_("目標渠道新聯絡人"), default=False)
    error_ref = models.CharField(_("錯誤代碼"), max_length=32, blank=True)

    objects = ParticipantQuerySet.as_manager()

    class Meta:
        verbose_name = _("活動參與者")
        verbose_name_plural = _("活動參與者")
        constraints = [
            models.UniqueConstraint(fields=["team", "campaign", "source_contact_ref"], name="omnilink_one_per_contact"),
            models.UniqueConstraint(fields=["team", "code"], condition=~Q(code=""), name="omnilink_code_unique"),
        ]
        indexes = [
            # The lists: one status, newest first click first.
            models.Index(
                fields=["team", "campaign", "status", "first_clicked_at", "id"], name="omnilink_part_status_time"
            ),
            # The statistics: every figure an index-only scan of one campaign's range.
            models.Index(
                fields=["team", "campaign", "first_clicked_at", "status", "reason", "target_is_new"],
                name="omnilink_part_time",
            ),
            models.Index(fields=["deadline_at"], condition=Q(status="pending"), name="omnilink_part_pending_deadline"),
        ]

    def save(self, *args, **kwargs):
        if not self._state.adding:
            return super().save(*args, **kwargs)
        from . import rollup

        with transaction.atomic(using=kwargs.get("using")):
            super().save(*args, **kwargs)
            rollup.record_created([self])


class DailyCount(TeamOwned):
    """The statistics' rollup: per campaign and team-local day of the first click, the change of each figure.

        Rows are deltas, only ever inserted: a first click adds one (participants +1, pending +1), a settlement adds
        (pending -1, successes +1 ...), in the same transaction as the participant's own write, so no click or webhook
        batch waits on another's row lock; `rollup.compact` folds a day's rows into one every minute. A figure is the
        SUM of its column over the campaign's rows of the chosen days (omnilink.rollup defines each column). After the
    team's time zone changes, the first read recounts the campaign's rows in the new zone (rollup.rebuild)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    day = models.DateField(_("日期"))
    # The team's time zone the day was taken in: rows of another zone (the team's changed since) are recounted.
    zone = models.CharField(max_length=64)
    participants = models.IntegerField(default=0)
    successes = models.IntegerField(default=0)
    failures = models.IntegerField(default=0)
    pending = models.IntegerField(default=0)
    new_contacts = models.IntegerField(default=0)
    campaign_disabled = models.IntegerField(default=0)
    link_unavailable = models.IntegerField(default=0)
    source_contact_not_found = models.IntegerField(default=0)
    target_contact_not_found = models.IntegerField(default=0)
    member_id_conflict = models.IntegerField(default=0)
    server_error = models.IntegerField(default=0)
    not_completed = models.IntegerField(default=0)

    class Meta:
        verbose_name = _("活動每日統計")
        verbose_name_plural = _("活動每日統計")
        indexes = [models.Index(fields=["team", "campaign", "day"], name="omnilink_daily_campaign_day")]
