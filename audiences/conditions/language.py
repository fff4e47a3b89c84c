"""The condition language's vocabulary: node types, operators, limits, the error and the validated tree
(see the package docstring)."""

from dataclasses import dataclass

from cdp.models import AttributeType
from core.errors import ServiceError

MAX_DEPTH = 6
MAX_NODES = 200
MAX_LIST = 500

GROUP_OPS = ("and", "or")
TIME_TYPES = (
    "last_customer_interaction",
    "last_team_interaction",
    "last_team_marketing",
    "last_checkout",
    "subscribed_at",
)
PROFILE_TYPES = ("member_id", "phone", "email")
POINTS_TYPES = ("points_balance", "points_accumulated")
CONDITION_TYPES = (
    "tag",
    "attribute",
    *PROFILE_TYPES,
    *TIME_TYPES,
    "binding",
    *POINTS_TYPES,
    "source",
    "channel",
    "coupon",
)
# 「領取優惠券 X」 / 「兌換優惠券 X」 (coupons campaigns), and their negations.
COUPON_OPS = ("claimed", "not_claimed", "redeemed", "not_redeemed")

COMPARE_OPS = ("eq", "neq", "gt", "gte", "lt", "lte", "between")
TIME_OPS = ("within_last_days", "more_than_days_ago", "before", "after", "between", "is_set", "not_set")
ATTRIBUTE_OPS = {
    AttributeType.TEXT: ("equals", "not_equals", "contains", "not_contains", "empty", "not_empty"),
    AttributeType.NUMBER: (*COMPARE_OPS, "empty", "not_empty"),
    AttributeType.DATE: ("on", "before", "after", "between", "within_last_days", "empty", "not_empty"),
    AttributeType.DATETIME: ("on", "before", "after", "between", "within_last_days", "empty", "not_empty"),
    AttributeType.BOOLEAN: ("is_true", "is_false", "empty", "not_empty"),
}
VALUELESS_OPS = {"empty", "not_empty", "is_set", "not_set", "is_true", "is_false"}

# Contact-level fields of the time conditions when compiling for channel contacts.
CONTACT_TIME_FIELDS = {
    "last_customer_interaction": "last_customer_interaction_at",
    "last_team_interaction": "last_team_interaction_at",
    "last_team_marketing": "last_team_marketing_at",
    "subscribed_at": "subscribed_at",
}
# Customer-level (cross-channel) fields when compiling for customers.
CUSTOMER_TIME_FIELDS = {
    "last_customer_interaction": "last_customer_interaction_at",
    "last_team_interaction": "last_team_interaction_at",
    "last_team_marketing": "last_team_marketing_at",
    "last_checkout": "last_checkout_at",
}

_FIELDS = {
    "tag": {"type", "op", "match", "tags"},
    "attribute": {"type", "key", "op", "value"},
    "binding": {"type", "bound"},
    "source": {"type", "op", "values"},
    "channel": {"type", "op", "channels"},
    "coupon": {"type", "op", "campaign"},
}
for _t in PROFILE_TYPES:
    _FIELDS[_t] = {"type", "op", "value"}
for _t in TIME_TYPES:
    _FIELDS[_t] = {"type", "op", "value", "days"}
for _t in POINTS_TYPES:
    _FIELDS[_t] = {"type", "op", "value"}


class ConditionError(ServiceError, ValueError):
    """A condition tree that cannot be used. ``path`` names the bad node, e.g. "conditions.children[1].value"."""

    def __init__(self, path, message):
        super().__init__(f"{path}: {message}", code="condition_invalid")
        self.path = path
        self.message = message


@dataclass(frozen=True)
class Validated:
    """A checked tree: the normalised JSON plus what the compiler needs (tag ids, attribute types)."""

    tree: dict
    team: object
