"""Audience packs (受眾包), broadcasts (推播) and their recipient snapshots.

A broadcast is a row with its state and its times; the sweeper (audiences.tasks.sweep_broadcasts, run every
minute by a django-q2 Schedule) takes snapshots and starts sends from these rows, so a lost queue message
loses nothing. Recipients are materialised rows (INSERT ... SELECT), one per broadcast and contact.
"""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Team, TeamOwned, TeamQuerySet
from cdp.models import Channel, ChannelKind, Contact

PACK_CHANNEL_KINDS = (
    ChannelKind.LINE,
    ChannelKind.FACEBOOK,
    ChannelKind.INSTAGRAM,
    ChannelKind.WHATSAPP,
    ChannelKind.WECHAT,
)
# WeChat broadcasts are template messages (wechat_template): outside the 48-hour window nothing else can be sent.
BROADCAST_CHANNEL_KINDS = (ChannelKind.LINE, ChannelKind.FACEBOOK, ChannelKind.WHATSAPP, ChannelKind.WECHAT)
# A broadcast's content types (messaging's content JSON; plain text is not one): the service and the editor.
BROADCAST_CONTENT_TYPES = ("module", "whatsapp_template", "wechat_template")
SNAPSHOT_LEAD = timedelta(minutes=15)


class AudiencePackQuerySet(TeamQuerySet):
    def active(self):
        return self.filter(archived_at__isnull=True)

    def archived(self):
        return self.filter(archived_at__isnull=False)


class AudiencePack(TeamOwned):
    """A saved set of conditions on one channel's contacts."""

    name = models.CharField(_("受眾包名稱"), max_length=120)
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="audience_packs")
    conditions = models.JSONField(_("受眾條件"), default=dict)
    archived_at = models.DateTimeField(_("封存時間"), null=True, blank=True)
    last_count = models.PositiveIntegerField(_("人數"), null=True, blank=True)
    last_counted_at = models.DateTimeField(_("人數更新時間"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("建立時間"), default=timezone.now)
    updated_at = models.DateTimeField(_("更新時間"), auto_now=True)

    objects = AudiencePackQuerySet.as_manager()

    class Meta:
        verbose_name = _("受眾包")
        verbose_name_plural = _("受眾包")
        ordering = ["-updated_at", "-id"]
        indexes = [
            models.Index(fields=["team", "archived_at", "updated_at"], name="pack_team_archived_updated"),
            models.Index(fields=["team", "channel"], name="pack_team_channel"),
        ]

    def __str__(self):
        return self.name

    @property
    def is_archived(self):
        return self.archived_at is not None

    @property
    def can_broadcast(self):
        return self.channel.kind in BROADCAST_CHANNEL_KINDS


class BroadcastStatus(models.TextChoices):
    DRAFT = "draft", _("草稿")
    SCHEDULED = "scheduled", _("排程中")
    SENDING = "sending", _("發送中")
    SENT = "sent", _("已發送")
    CANCELLED = "cancelled", _("已取消")


class BroadcastQuerySet(TeamQuerySet):
    def snapshot_due(self, now):
        return self.filter(
            status=BroadcastStatus.SCHEDULED, snapshot_taken_at__isnull=True, scheduled_at__lte=now + SNAPSHOT_LEAD
        )

    def send_due(self, now):
        return self.filter(
            Q(status=BroadcastStatus.SCHEDULED, snapshot_taken_at__isnull=False, scheduled_at__lte=now)
            | Q(status=BroadcastStatus.SENDING)
        )


class Broadcast(TeamOwned):
    """One broadcast: content, audience (a pack, or custom conditions copied from one), time and status.

    `content` is the messaging outbox's content JSON: {"type": "module", "module_id": N} or
    {"type": "whatsapp_template", "template_id": N, "parameters": [...]}.
    The audience is `pack.conditions` unless `custom_conditions` is set ("apply to custom conditions").
    """

    name = models.CharField(_("推播名稱"), max_length=120)
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="broadcasts")
    content = models.JSONField(_("訊息內容"), default=dict, blank=True)
    pack = models.ForeignKey(AudiencePack, null=True, blank=True, on_delete=models.SET_NULL, related_name="broadcasts")
    custom_conditions = models.JSONField(_("自訂條件"), null=True, blank=True)
    status = models.CharField(_("狀態"), max_length=16, choices=BroadcastStatus.choices, default=BroadcastStatus.DRAFT)
    scheduled_at = models.DateTimeField(_("發送時間"), null=True, blank=True)
    snapshot_taken_at = models.DateTimeField(_("名單擷取時間"), null=True, blank=True)
    recipient_count = models.PositiveIntegerField(_("發送人數"), null=True, blank=True)
    started_at = models.DateTimeField(_("開始發送時間"), null=True, blank=True)
    finished_at = models.DateTimeField(_("完成時間"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("取消時間"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("建立時間"), default=timezone.now)
    updated_at = models.DateTimeField(_("更新時間"), auto_now=True)

    objects = BroadcastQuerySet.as_manager()

    class Meta:
        verbose_name = _("推播")
        verbose_name_plural = _("推播")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "scheduled_at"], name="broadcast_status_scheduled"),
            models.Index(fields=["team", "status", "created_at"], name="broadcast_team_status_created"),
        ]

    def __str__(self):
        return self.name

    @property
    def conditions(self):
        if self.custom_conditions is not None:
            return self.custom_conditions
        return self.pack.conditions if self.pack_id else None

    @property
    def uses_custom_conditions(self):
        return self.custom_conditions is not None

    @property
    def snapshot_due_at(self):
        return self.scheduled_at - SNAPSHOT_LEAD if self.scheduled_at else None

    # seed 004's edit matrix: draft allows all three; scheduled only "edit pack".
    @property
    def can_change_pack(self):
        return self.status == BroadcastStatus.DRAFT

    @property
    def can_apply_custom_conditions(self):
        return self.status == BroadcastStatus.DRAFT

    @property
    def can_edit_pack(self):
        return self.status in (BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED) and self.pack_id is not None

    @property
    def can_edit_content(self):
        return self.status == BroadcastStatus.DRAFT


class RecipientState(models.TextChoices):
    PENDING = "pending", _("待發送")
    ENQUEUED = "enqueued", _("已排入發送")
    SKIPPED = "skipped", _("略過")


class BroadcastRecipient(TeamOwned):
    """One contact of a broadcast's snapshot. Written in bulk by INSERT ... SELECT; never edited by hand.

    A snapshot writes up to millions of rows in one statement, so this table carries no foreign-key
    constraints (each costs a trigger call per row at commit: measured ~2x the INSERT itself) and only the two
    indexes it is read by. The ids come from the same statement's SELECT on contacts of the broadcast's team.
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="+")
    broadcast = models.ForeignKey(
        Broadcast, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="recipients"
    )
    contact = models.ForeignKey(
        Contact, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    state = models.CharField(max_length=10, choices=RecipientState.choices, default=RecipientState.PENDING)
    skip_reason = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        verbose_name = _("推播名單")
        verbose_name_plural = _("推播名單")
        constraints = [
            models.UniqueConstraint(
                fields=["team", "broadcast", "contact"], name="broadcastrecipient_unique_team_broadcast_contact"
            )
        ]
        indexes = [models.Index(fields=["broadcast", "state", "contact"], name="bcrecipient_broadcast_state")]
