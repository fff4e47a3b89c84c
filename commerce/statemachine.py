"""Order statuses and transitions (issue 19), as data, like journeys.statemachine.

Nothing else in the app decides what may happen to an order: services.orders.transition() asks TRANSITIONS, and
every change writes an OrderTransition row (who, when, which event).
"""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class OrderStatus(models.TextChoices):
    DRAFT = "draft", _("草稿")
    AWAITING_CONFIRMATION = "awaiting_confirmation", _("待確認")
    AWAITING_PAYMENT = "awaiting_payment", _("待付款")
    PAID = "paid", _("已付款")
    FULFILLED = "fulfilled", pgettext_lazy("order status", "已完成")  # journeys' 已完成 is "Completed"
    CANCELLED = "cancelled", _("已取消")


S = OrderStatus

# (from, to) -> the events that may cause it.
TRANSITIONS = {
    (S.DRAFT, S.AWAITING_CONFIRMATION): {"send"},
    (S.AWAITING_CONFIRMATION, S.AWAITING_PAYMENT): {"confirm"},
    (S.AWAITING_PAYMENT, S.PAID): {"pay", "mark_paid"},
    (S.PAID, S.FULFILLED): {"fulfil"},
    (S.DRAFT, S.CANCELLED): {"cancel"},
    (S.AWAITING_CONFIRMATION, S.CANCELLED): {"cancel"},
    (S.AWAITING_PAYMENT, S.CANCELLED): {"cancel"},
}

OPEN = (S.DRAFT, S.AWAITING_CONFIRMATION, S.AWAITING_PAYMENT)
CANCELLABLE = tuple(src for (src, dst) in TRANSITIONS if dst == S.CANCELLED)


def target(current, event):
    """The status `event` takes an order in `current` to, or None when the event is not allowed there."""
    for (src, dst), events in TRANSITIONS.items():
        if src == current and event in events:
            return dst
    return None
