"""The audience condition language: validate a JSON condition tree and compile it to ONE SQL query.

Used by audience packs and broadcasts (``contacts_matching``) and by journey split nodes
(``customer_matches``). The full reference, with the JSON schema and examples, is in audiences/README.md.

A tree is a group ``{"op": "and" | "or", "children": [node, ...]}`` whose children are groups or conditions
``{"type": "...", ...}``:

=========================  ==================================================================================
type                       fields
=========================  ==================================================================================
tag                        op has | has_not, match any | all, tags [tag id or name, ...]
attribute                  key, op (by the attribute's type, see ATTRIBUTE_OPS), value
member_id / phone / email  op equals | is_set | not_set, value (equals only)
last_customer_interaction  op within_last_days | more_than_days_ago (days N) | before | after (value date) |
last_team_interaction      between (value [date, date]) | is_set | not_set.  Dates are "YYYY-MM-DD" days in
last_team_marketing        the team's time zone (before = earlier than that day, after = later than that
last_checkout              day, between = both days included).
subscribed_at
binding                    bound true | false (社群身份綁定)
points_balance /           op eq | neq | gt | gte | lt | lte (value integer) | between (value [min, max])
points_accumulated
source                     op in | not_in, values [ContactSource value, ...]
channel                    op has_contact | has_no_contact, channels [channel id, ...] (the customer has / has no
                           subscribed contact on any of these channels)
=========================  ==================================================================================

Semantics that matter:
- Negative operators (has_not, not_equals, not_contains, has_no_contact, not_in, attribute empty) include
  customers that have no value at all; comparisons (gt, before, within_last_days, ...) never match a missing
  value.
- Tag and attribute conditions are ``Exists()`` subqueries on customer_tag / attribute_value, never JOINs, so a
  contact appears once and the result is one SELECT.
- Interaction times and subscribed_at are the contact's own (its channel) when compiled for contacts, and the
  omni-customer's cross-channel times when compiled for customers (``customer_matches`` without a channel).
- A ``date`` attribute's value is stored as midnight UTC of that day and compared by day; ``datetime``
  attributes and all interaction times are compared by days in the team's time zone.

The package follows the seams: ``language`` (vocabulary, limits, ConditionError), ``validate`` (the tree against
the team's tags, attributes and channels), ``compiler`` (tree → one Q, and the public queries), ``schema`` (the
JSON schema). ``from audiences.conditions import X`` keeps working for every public name.
"""

from .compiler import (
    CUSTOMER_ROW_TYPES,
    compile_q,
    contacts_matching,
    count,
    customer_matches,
    reachable_contacts,
    referenced_attribute_keys,
)
from .language import (
    ATTRIBUTE_OPS,
    COMPARE_OPS,
    CONDITION_TYPES,
    CONTACT_TIME_FIELDS,
    CUSTOMER_TIME_FIELDS,
    GROUP_OPS,
    MAX_DEPTH,
    MAX_LIST,
    MAX_NODES,
    POINTS_TYPES,
    PROFILE_TYPES,
    TIME_OPS,
    TIME_TYPES,
    VALUELESS_OPS,
    ConditionError,
    Validated,
)
from .schema import condition_schemas, json_schema, openapi_schema
from .validate import validate

__all__ = [
    "ATTRIBUTE_OPS",
    "COMPARE_OPS",
    "CONDITION_TYPES",
    "CONTACT_TIME_FIELDS",
    "CUSTOMER_ROW_TYPES",
    "CUSTOMER_TIME_FIELDS",
    "ConditionError",
    "GROUP_OPS",
    "MAX_DEPTH",
    "MAX_LIST",
    "MAX_NODES",
    "POINTS_TYPES",
    "PROFILE_TYPES",
    "TIME_OPS",
    "TIME_TYPES",
    "VALUELESS_OPS",
    "Validated",
    "compile_q",
    "condition_schemas",
    "contacts_matching",
    "count",
    "customer_matches",
    "json_schema",
    "openapi_schema",
    "reachable_contacts",
    "referenced_attribute_keys",
    "validate",
]
