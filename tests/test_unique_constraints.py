"""Every unique constraint of a team's table includes `team` (ARCHITECTURE.md, issue 22.8), so the tables can be
distributed by team later (Citus requires the distribution column in every unique index): a walk over every
model's unique constraints, unique_together and unique fields."""

from django.apps import apps
from django.db import models

from config.api import PRODUCT_APPS

# (model, field or constraint name): why it is unique across teams.
EXCEPTIONS = {
    ("ApiKey", "prefix"): "a request names its key by prefix before its team is known; unique among all keys",
}
PENDING = {}  # every team-owned unique constraint now includes the team


def _team_tables():
    """Every model of the product apps with a team column (the Team model itself is the tenant, not a table of
    one)."""
    for model in apps.get_models():
        if model._meta.app_label in PRODUCT_APPS and any(f.name == "team" for f in model._meta.fields):
            yield model


def _unique_sets(model):
    """(name, field names) of each uniqueness rule the model declares."""
    for constraint in model._meta.constraints:
        if isinstance(constraint, models.UniqueConstraint):
            yield constraint.name, set(constraint.fields) or {str(e) for e in constraint.expressions}
    for fields in model._meta.unique_together:
        yield "unique_together " + ",".join(fields), set(fields)
    for field in model._meta.fields:
        if field.unique and not field.primary_key:
            yield field.name, {field.name}


def test_every_unique_constraint_includes_team():
    lacking = [
        f"{model.__name__}: {name} {sorted(fields)}"
        for model in _team_tables()
        for name, fields in _unique_sets(model)
        if "team" not in fields and (model.__name__, name) not in EXCEPTIONS | PENDING
    ]
    assert lacking == [], "Add team to these unique constraints (or an exception with its reason)"


def test_the_exceptions_are_still_needed():
    declared = {(model.__name__, name) for model in _team_tables() for name, fields in _unique_sets(model)}
    assert set(EXCEPTIONS) | set(PENDING) <= declared


# Declared indexes: (model, index name) -> why it may leave the team out. Citus needs the distribution column only
# in unique indexes, but an index without team serves cross-team scans that the product never runs on a shard.
CLAIM = "the workers' claim of due work across all teams; on Citus each worker claims shard by shard"
PARENT = "read through a parent row of one team (the query also filters team_id); on Citus: add team first"
INDEX_EXCEPTIONS = {
    ("OutboundWebhookDelivery", "webhook_delivery_due"): CLAIM,
    ("OutboundMessage", "outbound_queued_due"): CLAIM,
    ("OutboundMessage", "outbound_sending_claim"): CLAIM,
    ("WebhookEvent", "webhookevent_pending"): CLAIM,
    ("Broadcast", "broadcast_status_scheduled"): CLAIM,
    ("Enrollment", "enrollment_due"): CLAIM,
    ("Enrollment", "enrollment_claim"): CLAIM,
    ("CommentReply", "commentreply_status"): CLAIM,
    ("PaymentEvent", "commerce_payment_event_pending"): CLAIM,
    ("Participant", "omnilink_part_pending_deadline"): "the sweep of OmniLink participants past their deadline; "
    + CLAIM,
    ("OutboundMessage", "outbound_channel_provider_id"): "a delivery receipt names a provider message id before "
    "its team is known (the channel's webhook URL gives it); " + PARENT,
    ("AttributeValue", "attrvalue_attr_text"): PARENT,
    ("AttributeValue", "attrvalue_attr_number"): PARENT,
    ("AttributeValue", "attrvalue_attr_datetime"): PARENT,
    ("AttributeValue", "attrvalue_attr_bool"): PARENT,
    ("BroadcastRecipient", "bcrecipient_broadcast_state"): PARENT,
    ("EnrollmentStep", "step_message"): "a delivery receipt finds its journey step by message id; " + PARENT,
}


def _declared_indexes(model):
    for index in model._meta.indexes:
        yield index.name, set(index.fields) | {str(e) for e in index.expressions}
    for fields in getattr(model._meta, "index_together", ()):
        yield "index_together " + ",".join(fields), set(fields)


def test_every_declared_index_of_a_team_table_includes_team():
    """Issue 21 ("Toward sharding"): every table holding a team's data carries team_id in its indexes, so each
    query those indexes serve is one shard's query once the tables are distributed by team."""
    lacking = [
        f"{model.__name__}: {name} {sorted(fields)}"
        for model in _team_tables()
        for name, fields in _declared_indexes(model)
        if not {"team", "team_id"} & {f.lstrip("-") for f in fields} and (model.__name__, name) not in INDEX_EXCEPTIONS
    ]
    assert lacking == [], "Add team to these indexes (or an exception with its reason)"


def test_every_team_table_is_covered():
    """The walk sees the tables that hold customer data (a team column): a model that lost its team would leave it."""
    names = {model.__name__ for model in _team_tables()}
    assert {"Customer", "Contact", "CustomerEvent", "CustomerTag", "AttributeValue", "Binding", "Order"} <= names


def test_the_index_exceptions_are_still_needed():
    declared = {(model.__name__, name) for model in _team_tables() for name, _fields in _declared_indexes(model)}
    assert set(INDEX_EXCEPTIONS) <= declared
