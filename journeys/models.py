"""Customer journeys (seed 002): definitions, immutable versions, enrollments and their steps, statistics rollups.

The database is the source of truth for work in flight: an Enrollment row holds its version, current node,
state and `next_run_at`; workers claim due rows with `select_for_update(skip_locked=True)` (see engine.py).
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.models import TeamOwned, TeamQuerySet

from .statemachine import JourneyStatus, StatusReason


class TriggerType(models.TextChoices):
    CHECKOUT_COMPLETED = "checkout_completed", _("完成結帳")
    NEW_CONTACT = "new_contact", _("新增聯絡人")
    TAG_ADDED = "tag_added", _("貼上任一標籤")
    ATTRIBUTE_CHANGED = "attribute_changed", _("自訂屬性異動")
    SYSTEM = "system", _("系統功能觸發")


MAX_TRIGGER_TAGS = 20


def normalize_trigger_config(trigger_type, config):
    """The stored shape of a trigger's config. tag_added (「貼上任一標籤」) holds one or more tag names,
    {"tags": [...]}; the old {"tag": name} is read as one tag (and migrated, journeys 0002)."""
    config = {} if config is None else dict(config) if isinstance(config, dict) else config
    if trigger_type != TriggerType.TAG_ADDED or not isinstance(config, dict):
        return config
    legacy = config.pop("tag", None)
    tags = config.get("tags")
    if tags is None and isinstance(legacy, str):
        tags = [legacy]
    if isinstance(tags, list) and all(isinstance(tag, str) for tag in tags):
        tags = list(dict.fromkeys(tag.strip() for tag in tags if tag.strip()))  # in order, once each
    config["tags"] = tags if tags is not None else []
    return config


class Activation(models.TextChoices):
    PERMANENT = "permanent", _("永久啟用")
    SCHEDULED = "scheduled", pgettext_lazy("activation", "排程")  # audiences translates 排程 as a verb


class ExpiryAction(models.TextChoices):
    CLOSE_TRIGGER = "close_trigger", _("關閉觸發")
    STOP = "stop", _("停止旅程")


class JourneyQuerySet(TeamQuerySet):
    def live(self):
        """Journeys that take new customers."""
        return self.filter(status=JourneyStatus.ACTIVE)


class Journey(TeamOwned):
    name = models.CharField(_("旅程名稱"), max_length=200)
    status = models.CharField(_("狀態"), max_length=20, choices=JourneyStatus.choices, default=JourneyStatus.DRAFT)
    status_reason = models.CharField(_("狀態變更原因"), max_length=40, choices=StatusReason.choices, blank=True)
    status_changed_at = models.DateTimeField(_("狀態變更時間"), null=True, blank=True)
    trigger_type = models.CharField(
        _("觸發類型"), max_length=24, choices=TriggerType.choices, default=TriggerType.CHECKOUT_COMPLETED
    )
    # checkout_completed: {"item_name_contains": str, "amount_gte": str, "amount_lte": str}
    # tag_added: {"tags": [name, ...]} (any of them); attribute_changed: {"key": key, "value": optional str};
    # system: {"name": str}. Normalised by normalize_trigger_config.
    trigger_config = models.JSONField(default=dict, blank=True)
    activation = models.CharField(_("啟用時間"), max_length=12, choices=Activation.choices, default="permanent")
    starts_at = models.DateTimeField(_("開始時間"), null=True, blank=True)
    ends_at = models.DateTimeField(_("結束時間"), null=True, blank=True)
    expiry_action = models.CharField(
        _("排程到期動作"), max_length=16, choices=ExpiryAction.choices, default=ExpiryAction.CLOSE_TRIGGER
    )
    # Do-not-disturb windows in the team's zone: [["23:00", "23:59"], ["00:00", "08:00"]] (over midnight = two).
    dnd_segments = models.JSONField(_("勿擾時段"), default=list, blank=True)
    per_customer_limit = models.PositiveIntegerField(_("每位顧客觸發次數上限"), null=True, blank=True)
    # The plan's total trigger limit for this journey (seed 002: 旅程觸發次數已達方案上限 → trigger closed), counted
    # with repeats like trigger_count. Set from Team.journey_trigger_limit by services.publish; None = unlimited.
    max_triggers = models.PositiveIntegerField(_("旅程觸發次數方案上限"), null=True, blank=True)
    trigger_count = models.PositiveIntegerField(_("觸發次數"), default=0)
    holdout_percent = models.PositiveSmallIntegerField(_("保留組比例 (%)"), default=0)
    # The graph being edited ({"nodes": [...]}, see graph.py); publishing copies it into a JourneyVersion.
    draft_graph = models.JSONField(default=dict, blank=True)
    current_version = models.ForeignKey(
        "JourneyVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    has_unpublished_changes = models.BooleanField(default=False)
    created_at = models.DateTimeField(_("建立時間"), default=timezone.now)
    updated_at = models.DateTimeField(_("更新時間"), auto_now=True)

    objects = JourneyQuerySet.as_manager()

    class Meta:
        verbose_name = _("顧客旅程")
        verbose_name_plural = _("顧客旅程")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["team", "status"], name="journey_team_status"),
            models.Index(fields=["team", "trigger_type", "status"], name="journey_team_trigger_status"),
        ]

    def __str__(self):
        return self.name


class JourneyChannel(TeamOwned):
    """A target channel of a journey, with its message cap (LINE / WhatsApp) and the count toward it."""

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="targets")
    channel = models.ForeignKey("cdp.Channel", on_delete=models.CASCADE, related_name="+")
    message_cap = models.PositiveIntegerField(_("訊息量上限"), null=True, blank=True)
    messages_counted = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "journey", "channel"], name="journeychannel_unique"),
        ]


class JourneyVersion(TeamOwned):
    """An immutable published graph. Enrollments run on the version they entered with."""

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    graph = models.JSONField()
    published_at = models.DateTimeField(default=timezone.now)
    published_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["team", "journey", "number"], name="journeyversion_unique_number"),
        ]

    def __str__(self):
        return f"{self.journey} v{self.number}"

    def save(self, *args, **kwargs):
        if self.pk and JourneyVersion.objects.filter(pk=self.pk).exclude(graph=self.graph).exists():
            raise ValueError("A published journey version is immutable.")
        super().save(*args, **kwargs)


class EnrollmentState(models.TextChoices):
    ACTIVE = "active", _("進行中")  # waiting on `node` until next_run_at
    COMPLETED = "completed", _("已完成")
    HALTED = "halted", _("已停止")  # the journey was stopped while the customer was inside
    FAILED = "failed", _("失敗")
    # The customer was merged into another who was further along in the same journey (services.follow_merge).
    MERGED = "merged", _("因顧客合併結束")


class Enrollment(TeamOwned):
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="enrollments")
    version = models.ForeignKey(JourneyVersion, on_delete=models.CASCADE, related_name="enrollments")
    customer = models.ForeignKey("cdp.Customer", on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey("cdp.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # No database constraint: the event log is partitioned by month (its key is (id, occurred_at)) and old months
    # are dropped by retention (cdp/partitions.py); the id stays as the idempotency key of the trigger.
    trigger_event = models.ForeignKey(
        "cdp.CustomerEvent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False
    )
    node = models.CharField(max_length=40, blank=True)
    state = models.CharField(max_length=12, choices=EnrollmentState.choices, default=EnrollmentState.ACTIVE)
    next_run_at = models.DateTimeField(null=True, blank=True)
    # The claim lease of the worker processing this row (also its claim token); the sweeper clears stale ones.
    claimed_until = models.DateTimeField(null=True, blank=True)
    # True while the node's wait has started (a delay, or a message deferred by do-not-disturb).
    waiting = models.BooleanField(default=False)
    holdout = models.BooleanField(default=False)
    entered_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            # Redelivered trigger events never enrol a customer twice.
            models.UniqueConstraint(
                fields=["team", "journey", "trigger_event"],
                condition=Q(trigger_event__isnull=False),
                name="enrollment_unique_trigger_event",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_run_at"], condition=Q(state="active", claimed_until__isnull=True), name="enrollment_due"
            ),
            models.Index(fields=["claimed_until"], condition=Q(claimed_until__isnull=False), name="enrollment_claim"),
            models.Index(fields=["team", "version", "state", "node"], name="enrollment_version_node"),
            models.Index(fields=["team", "journey", "state"], name="enrollment_journey_state"),
            models.Index(fields=["team", "customer"], name="enrollment_team_customer"),
        ]


class StepOutcome(models.TextChoices):
    DONE = "done", _("完成")
    SENT = "sent", _("已送出")
    SKIPPED = "skipped", _("略過")
    DEFERRED = "deferred", _("延後")
    HELD_OUT = "held_out", _("保留組不發送")
    YES = "yes", _("符合")
    NO = "no", _("不符合")
    FAILED = "failed", _("失敗")
    HALTED = "halted", _("旅程已停止")


class EnrollmentStep(TeamOwned):
    """One node executed for one enrollment. Written in the same transaction as the new position."""

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="steps")
    version = models.ForeignKey(JourneyVersion, on_delete=models.CASCADE, related_name="+")
    node = models.CharField(max_length=40)
    node_type = models.CharField(max_length=20)
    outcome = models.CharField(max_length=12, choices=StepOutcome.choices)
    reason = models.CharField(max_length=300, blank=True)
    message_id = models.BigIntegerField(null=True, blank=True)  # messaging.OutboundMessage id
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["team", "version", "node"], name="step_version_node"),
            models.Index(fields=["message_id"], condition=Q(message_id__isnull=False), name="step_message"),
        ]


class StatusChange(TeamOwned):
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=20, choices=JourneyStatus.choices)
    to_status = models.CharField(max_length=20, choices=JourneyStatus.choices)
    reason = models.CharField(max_length=40, choices=StatusReason.choices, blank=True)
    actor = models.CharField(max_length=200, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["team", "journey", "at"], name="statuschange_journey_at")]


class TriggerCounter(TeamOwned):
    """Per-customer trigger count, incremented with a conditional UPDATE so the limit holds under concurrency."""

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey("cdp.Customer", on_delete=models.CASCADE, related_name="+")
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "journey", "customer"], name="triggercounter_unique"),
        ]


class MergeTransferKind(models.TextChoices):
    MOVED = "moved", _("移至存續顧客")
    ENDED = "ended", _("因顧客合併結束")
    COUNTER = "counter", _("觸發次數併入存續顧客")


class MergeTransfer(TeamOwned):
    """What a customer merge did to journeys, so its un-merge can undo exactly that (services.follow_merge /
    follow_unmerge): an enrollment moved to the survivor, an enrollment ended (with its position to resume from),
    or a trigger counter added to the survivor's. `returned_at` is set when the un-merge has undone it."""

    merge = models.ForeignKey("cdp.MergeRecord", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=MergeTransferKind.choices)
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="+")
    enrollment = models.ForeignKey(Enrollment, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    # The customer the enrollment or the count belonged to before the merge.
    from_customer = models.ForeignKey("cdp.Customer", on_delete=models.CASCADE, related_name="+")
    count = models.PositiveIntegerField(default=0)  # counter: what the absorbed customer's counter held
    next_run_at = models.DateTimeField(null=True, blank=True)  # ended: where it was waiting
    waiting = models.BooleanField(default=False)
    at = models.DateTimeField(default=timezone.now)
    returned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["team", "merge", "enrollment"],
                condition=Q(enrollment__isnull=False),
                name="mergetransfer_unique_enrollment",
            ),
            models.UniqueConstraint(
                fields=["team", "merge", "journey"], condition=Q(kind="counter"), name="mergetransfer_unique_counter"
            ),
        ]


class NodeRollup(TeamOwned):
    """Per version and node: message statistics (seed 003), refreshed hourly by tasks.refresh_rollups."""

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey(JourneyVersion, on_delete=models.CASCADE, related_name="node_rollups")
    node = models.CharField(max_length=40)
    channel_kind = models.CharField(max_length=16, blank=True)
    stats = models.JSONField(default=dict)
    refreshed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "version", "node"], name="noderollup_unique")]


class VersionRollup(TeamOwned):
    """Per version: the overview figures (revenue, orders, cost, holdout lift), refreshed hourly."""

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey(JourneyVersion, on_delete=models.CASCADE, related_name="rollups")
    stats = models.JSONField(default=dict)
    refreshed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "version"], name="versionrollup_unique")]
