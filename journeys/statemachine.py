"""Journey statuses, transitions and the per-status action matrix of seed 002, as data.

Nothing else in the app decides what a status allows: views, the API and services ask this module.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class JourneyStatus(models.TextChoices):
    DRAFT = "draft", _("草稿")
    ACTIVE = "active", _("進行中")
    SCHEDULED = "scheduled", _("排程中")
    TRIGGER_CLOSED = "trigger_closed", _("觸發已關閉")
    STOPPING = "stopping", _("旅程停止中")
    STOPPED = "stopped", _("旅程已停止")


class Action(models.TextChoices):
    EDIT = "edit", _("編輯")
    VIEW = "view", _("檢視旅程")
    CLOSE_TRIGGER = "close_trigger", _("關閉觸發")
    STOP = "stop", _("停止旅程")
    COPY = "copy", _("複製")
    DELETE = "delete", _("刪除")


class StatusReason(models.TextChoices):
    # Automatic changes (seed 002 旅程狀態變更原因一覽表); the label is the list's warning message.
    LINE_QUOTA_EXHAUSTED = "line_quota_exhausted", _("LINE 渠道無法發送訊息，官方帳號已無可用訊息則數")
    WHATSAPP_BALANCE_ZERO = "whatsapp_balance_zero", _("WhatsApp 渠道無法發送訊息，預付帳戶餘額為 0")
    LINE_CAP_REACHED = "line_cap_reached", _("LINE 渠道無法發送訊息，目標渠道訊息量已達上限")
    WHATSAPP_CAP_REACHED = "whatsapp_cap_reached", _("WhatsApp 渠道無法發送訊息，目標渠道訊息量已達上限")
    MODULE_DELETED = "module_deleted", _("找不到機器人或機器人模組")
    TEMPLATE_DELETED = "template_deleted", _("找不到 WhatsApp 訊息範本")
    ATTRIBUTE_UNAVAILABLE = "attribute_unavailable", _("找不到自訂屬性或被封存、資料型態被改變")
    TRIGGER_LIMIT_REACHED = "trigger_limit_reached", _("旅程觸發次數已達方案上限")
    # Changes people or the clock make.
    PUBLISHED = "published", _("發佈")
    SCHEDULE_STARTED = "schedule_started", _("排程開始")
    SCHEDULE_EXPIRED = "schedule_expired", _("排程到期")
    MANUAL = "manual", _("手動操作")
    ALL_HALTED = "all_halted", _("旅程內顧客皆已停止")


AUTOMATIC_REASONS = frozenset(
    {
        StatusReason.LINE_QUOTA_EXHAUSTED,
        StatusReason.WHATSAPP_BALANCE_ZERO,
        StatusReason.LINE_CAP_REACHED,
        StatusReason.WHATSAPP_CAP_REACHED,
        StatusReason.MODULE_DELETED,
        StatusReason.TEMPLATE_DELETED,
        StatusReason.ATTRIBUTE_UNAVAILABLE,
        StatusReason.TRIGGER_LIMIT_REACHED,
    }
)

# Where each automatic reason takes the journey (seed 002): every "stopped" goes through "stopping" first, so
# customers inside are halted before the journey shows as stopped.
AUTOMATIC_TARGET = {reason: JourneyStatus.STOPPING for reason in AUTOMATIC_REASONS}
AUTOMATIC_TARGET[StatusReason.TRIGGER_LIMIT_REACHED] = JourneyStatus.TRIGGER_CLOSED

S = JourneyStatus
A = Action

# Seed 002 §6, exactly, in the seed's order.
ACTIONS = {
    S.DRAFT: (A.EDIT, A.COPY, A.DELETE),
    S.ACTIVE: (A.VIEW, A.CLOSE_TRIGGER, A.STOP, A.COPY),
    S.SCHEDULED: (A.VIEW, A.STOP, A.COPY, A.DELETE),
    S.TRIGGER_CLOSED: (A.VIEW, A.STOP, A.COPY),
    S.STOPPING: (A.VIEW, A.COPY),
    S.STOPPED: (A.VIEW, A.COPY, A.DELETE),
}

# Allowed transitions: (from, to) -> the events that may cause it.
TRANSITIONS = {
    (S.DRAFT, S.ACTIVE): {"publish"},
    (S.DRAFT, S.SCHEDULED): {"publish"},
    (S.SCHEDULED, S.ACTIVE): {"schedule_start"},
    (S.SCHEDULED, S.STOPPING): {"stop", "auto", "expire"},
    (S.ACTIVE, S.TRIGGER_CLOSED): {"close_trigger", "auto", "expire"},
    (S.ACTIVE, S.STOPPING): {"stop", "auto", "expire"},
    (S.TRIGGER_CLOSED, S.STOPPING): {"stop", "auto", "expire"},
    (S.STOPPING, S.STOPPED): {"all_halted"},
}

# What may be edited in each status (seed 002 hint box).
EDITABLE = {
    S.DRAFT: frozenset({"name", "settings", "trigger", "channels", "activation", "structure", "node_contents"}),
    S.ACTIVE: frozenset({"name", "settings", "node_contents"}),
    S.SCHEDULED: frozenset({"name", "settings", "node_contents"}),
    S.TRIGGER_CLOSED: frozenset({"name"}),
    S.STOPPING: frozenset(),
    S.STOPPED: frozenset({"name", "settings", "node_contents"}),
}

# Statuses in which enrolled customers keep moving, and in which new customers may enter.
RUNS_ENROLLMENTS = frozenset({S.ACTIVE, S.SCHEDULED, S.TRIGGER_CLOSED, S.DRAFT})
TAKES_ENTRANTS = frozenset({S.ACTIVE})
LIVE = frozenset({S.ACTIVE, S.SCHEDULED, S.TRIGGER_CLOSED})


class TransitionError(Exception):
    pass


def actions_for(status):
    return ACTIONS[JourneyStatus(status)]


def allows(status, action):
    return Action(action) in ACTIONS[JourneyStatus(status)]


def can_edit(status, part):
    return part in EDITABLE[JourneyStatus(status)]


def check_transition(from_status, to_status, event):
    if event not in TRANSITIONS.get((JourneyStatus(from_status), JourneyStatus(to_status)), ()):
        raise TransitionError(f"{from_status} → {to_status} is not allowed by {event}")


def warning_for(reason):
    """The list's ⚠️ message for an automatic change, or None."""
    if reason in AUTOMATIC_REASONS:
        return StatusReason(reason).label
    return None
