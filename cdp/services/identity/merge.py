"""Merging two customers: the portable path and PostgreSQL's one statement."""

import json
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ...events import announce, record_events
from ...models import (
    AttributeValue,
    Binding,
    Contact,
    Customer,
    CustomerEvent,
    CustomerTag,
    EventType,
    MergeRecord,
    Order,
    PointsTransaction,
)
from .resolve import MemberIdConflict, _lock_customers, _table, _update

# --- merging -------------------------------------------------------------------------------------------------

_FIELDS = [
    "member_id",
    "phone",
    "email",
    "name",
    "is_bound",
    "first_bound_at",
    "first_bound_method",
    "is_member",
    "member_since",
    "last_customer_interaction_at",
    "last_team_marketing_at",
    "last_team_interaction_at",
    "last_checkout_at",
    "points_balance",
    "points_accumulated",
]
_IDENTITY_FIELDS = ["member_id", "phone", "email", "name", "is_member", "member_since"]
_TIME_FIELDS = [
    "last_customer_interaction_at",
    "last_team_marketing_at",
    "last_team_interaction_at",
    "last_checkout_at",
]


def _dump(value):
    return value.isoformat() if isinstance(value, datetime) else value


def _load(key, value):
    if value is not None and (key.endswith("_at") or key in ("member_since", "updated_at")):
        return parse_datetime(value)
    return value


def _fields(customer):
    return {key: _dump(getattr(customer, key)) for key in _FIELDS}


def _later(a, b):
    return max(filter(None, [a, b]), default=None)


def _earlier(a, b):
    return min(filter(None, [a, b]), default=None)


def merge_customers(*, survivor, absorbed, evidence):
    """Merge `absorbed` into `survivor` (both of one team). Raises MemberIdConflict. Returns the MergeRecord."""
    if survivor.team_id != absorbed.team_id:
        raise ValueError("Customers of different teams are never merged.")
    if survivor.pk == absorbed.pk:
        raise ValueError("A customer cannot be merged into itself.")
    with transaction.atomic():
        locked = _lock_customers(survivor.pk, absorbed.pk)
        fresh_survivor, fresh_absorbed = locked[survivor.pk], locked[absorbed.pk]
        if fresh_survivor.merged_into_id or fresh_absorbed.merged_into_id:
            raise ValueError("Only active customers can be merged.")
        record = _merge_locked(fresh_survivor, fresh_absorbed, evidence)
    for key in _FIELDS + ["merged_into_id", "updated_at"]:
        setattr(survivor, key, getattr(fresh_survivor, key))
    absorbed.merged_into_id = survivor.pk
    return record


def _value_row(value):
    return {
        "attribute_id": value.attribute_id,
        "text_value": value.text_value,
        "number_value": None if value.number_value is None else str(value.number_value),
        "datetime_value": _dump(value.datetime_value),
        "bool_value": value.bool_value,
        "updated_at": _dump(value.updated_at),
    }


_VALUE_COLUMNS = ["text_value", "number_value", "datetime_value", "bool_value", "updated_at"]


def _merge_locked(survivor, absorbed, evidence):
    """The merge itself; both customers are locked by the caller. Set-based, whatever the customers carry: on
    PostgreSQL one statement moves every row and writes the merge record, its snapshot and the two "merged"
    timeline events, then one updates the survivor. Consumers of the events are told as usual (events.announce)."""
    if survivor.member_id and absorbed.member_id and survivor.member_id != absorbed.member_id:
        raise MemberIdConflict([survivor.member_id, absorbed.member_id])
    team_id = survivor.team_id
    now = timezone.now()
    before = {"survivor": _fields(survivor), "absorbed": _fields(absorbed)}
    updates = _merged_fields(survivor, absorbed)

    if connection.vendor == "postgresql":
        # The survivor's row is written by the merge statement too, except a member id it takes over: that
        # must wait until the absorbed row has left the active set (partial unique constraint).
        record = _merge_rows_pg(survivor, absorbed, evidence, before, now, updates)
        announce(team_id, record.event_ids)
        for key in _SURVIVOR_COLUMNS:
            setattr(survivor, key, updates.get(key, getattr(survivor, key)))
        survivor.updated_at = now
        updates = {"member_id": updates["member_id"]} if "member_id" in updates else {}
    else:
        snapshot = _move_rows(survivor, absorbed, now)
        record = MergeRecord.objects.create(
            team_id=team_id,
            survivor=survivor,
            absorbed=absorbed,
            evidence=evidence,
            snapshot={**before, **snapshot},
            merged_at=now,
        )
        data = {"merge_id": record.pk, "survivor_id": survivor.pk, "absorbed_id": absorbed.pk, "evidence": evidence}
        record_events(
            [
                CustomerEvent(team_id=team_id, customer=customer, type=EventType.MERGED, occurred_at=now, data=data)
                for customer in (survivor, absorbed)
            ]
        )
    absorbed.merged_into_id = survivor.pk
    # After the absorbed row left the active set: the survivor may take over its member id (partial unique).
    _update(survivor, updates)
    return record


def _merged_fields(survivor, absorbed):
    """The survivor's fields after the merge (the rules in the module docs), from the two locked rows."""
    updates = {
        "points_balance": survivor.points_balance + absorbed.points_balance,
        "points_accumulated": survivor.points_accumulated + absorbed.points_accumulated,
        "is_bound": survivor.is_bound or absorbed.is_bound,
        "is_member": survivor.is_member or absorbed.is_member,
        "member_since": _earlier(survivor.member_since, absorbed.member_since),
    }
    for key in _TIME_FIELDS:
        updates[key] = _later(getattr(survivor, key), getattr(absorbed, key))
    if absorbed.first_bound_at and (
        survivor.first_bound_at is None or absorbed.first_bound_at < survivor.first_bound_at
    ):
        updates["first_bound_at"] = absorbed.first_bound_at
        updates["first_bound_method"] = absorbed.first_bound_method
    for key in ("member_id", "phone", "email", "name"):
        if not getattr(survivor, key) and getattr(absorbed, key):
            updates[key] = getattr(absorbed, key)
    return updates


def _move_rows(survivor, absorbed, now):
    """Portable form (SQLite): read the snapshot, then move / resolve rows with one statement per table."""
    contact_ids = list(Contact.objects.filter(customer=absorbed).values_list("pk", flat=True))
    absorbed_tags = list(
        CustomerTag.objects.filter(customer=absorbed).values("tag_id", "channel_id", "source", "applied_at")
    )
    survivor_tag_ids = set(CustomerTag.objects.filter(customer=survivor).values_list("tag_id", flat=True))
    values = list(AttributeValue.objects.filter(customer_id__in=[survivor.pk, absorbed.pk]))
    survivor_values = {v.attribute_id: v for v in values if v.customer_id == survivor.pk}
    absorbed_values = {v.attribute_id: v for v in values if v.customer_id == absorbed.pk}
    binding_ids = list(Binding.objects.filter(customer=absorbed).values_list("pk", flat=True))
    order_ids = list(Order.objects.filter(customer=absorbed).values_list("pk", flat=True))
    event_ids = list(CustomerEvent.objects.filter(customer=absorbed).values_list("pk", flat=True))
    points_ids = list(PointsTransaction.objects.filter(customer=absorbed).values_list("pk", flat=True))
    snapshot = {
        "contact_ids": contact_ids,
        "absorbed_tags": [{**row, "applied_at": _dump(row["applied_at"])} for row in absorbed_tags],
        "survivor_tag_ids": sorted(survivor_tag_ids),
        "absorbed_values": [_value_row(v) for v in absorbed_values.values()],
        "survivor_values": [_value_row(v) for v in survivor_values.values()],
        "binding_ids": binding_ids,
        "order_ids": order_ids,
        "event_ids": event_ids,
        "points_ids": points_ids,
    }

    # Contacts, bindings, orders and the timeline move in one UPDATE each.
    Contact.objects.filter(customer=absorbed).update(customer=survivor)
    if binding_ids:
        Binding.objects.filter(customer=absorbed).update(customer=survivor)
    if order_ids:
        Order.objects.filter(customer=absorbed).update(customer=survivor)
    if event_ids:
        CustomerEvent.objects.filter(customer=absorbed).update(customer=survivor)
    if points_ids:  # the absorbed customer's points history goes with its points
        PointsTransaction.objects.filter(customer=absorbed).update(customer=survivor)

    # Tags: the survivor's row wins where both have the tag; the rest move.
    if absorbed_tags:
        CustomerTag.objects.filter(customer=absorbed, tag_id__in=survivor_tag_ids).delete()
        CustomerTag.objects.filter(customer=absorbed).update(customer=survivor)

    # Attributes: the most recently written value wins (survivor on a tie); the absorbed rows move or go.
    if absorbed_values:
        newer = []
        for attribute_id, theirs in absorbed_values.items():
            ours = survivor_values.get(attribute_id)
            if ours is not None and theirs.updated_at > ours.updated_at:
                for column in _VALUE_COLUMNS:
                    setattr(ours, column, getattr(theirs, column))
                newer.append(ours)
        if newer:
            AttributeValue.objects.bulk_update(newer, _VALUE_COLUMNS)
        AttributeValue.objects.filter(customer=absorbed, attribute_id__in=list(survivor_values)).delete()
        AttributeValue.objects.filter(customer=absorbed).update(customer=survivor)

    # The absorbed row first (frees its member id under the partial unique constraint), then the survivor.
    Customer.objects.filter(pk=absorbed.pk).update(merged_into=survivor, updated_at=now)
    return snapshot


_MERGE_SQL = None
# What the merge statement writes on the survivor's row: _merged_fields' keys but the member id.
_SURVIVOR_COLUMNS = [key for key in _FIELDS if key != "member_id"]

# An attribute value as the snapshot keeps it (the portable path's _value_row, built by PostgreSQL).
_VALUE_JSON = """coalesce(jsonb_agg(jsonb_build_object('attribute_id', attribute_id, 'text_value', text_value,
    'number_value', number_value::text, 'datetime_value', datetime_value, 'bool_value', bool_value,
    'updated_at', updated_at) ORDER BY attribute_id), '[]')"""


def _merge_sql():
    """PostgreSQL: every row move of a merge, its MergeRecord and its events in ONE statement (data-modifying CTEs).

    All sub-statements see the rows as they were before the statement, so `st` / `v` are the pre-merge state;
    each row is modified by at most one sub-statement (the tag / value moves exclude what the deletes take).
    The snapshot is assembled from what the moves return, so nothing is read twice or sent back and forth.
    """
    global _MERGE_SQL
    if _MERGE_SQL is None:
        t = {
            m.__name__: _table(m)
            for m in (
                Contact,
                Binding,
                Order,
                CustomerEvent,
                CustomerTag,
                AttributeValue,
                Customer,
                MergeRecord,
                PointsTransaction,
            )
        }
        move = "UPDATE {table} SET customer_id = %(s)s WHERE customer_id = %(a)s RETURNING id"
        tag_cols = "tag_id, channel_id, source, applied_at"

        def ids(cte):
            return f"(SELECT coalesce(jsonb_agg(id ORDER BY id), '[]') FROM {cte})"

        _MERGE_SQL = f"""
WITH c AS ({move.format(table=t["Contact"])}),
b AS ({move.format(table=t["Binding"])}),
o AS ({move.format(table=t["Order"])}),
e AS ({move.format(table=t["CustomerEvent"])}),
p AS ({move.format(table=t["PointsTransaction"])}),
st AS (SELECT tag_id FROM {t["CustomerTag"]} WHERE customer_id = %(s)s),
dt AS (DELETE FROM {t["CustomerTag"]} WHERE customer_id = %(a)s AND tag_id IN (SELECT tag_id FROM st)
       RETURNING {tag_cols}),
mt AS (UPDATE {t["CustomerTag"]} SET customer_id = %(s)s
       WHERE customer_id = %(a)s AND tag_id NOT IN (SELECT tag_id FROM st) RETURNING {tag_cols}),
v AS (SELECT customer_id, attribute_id, text_value, number_value, datetime_value, bool_value, updated_at
      FROM {t["AttributeValue"]} WHERE customer_id IN (%(s)s, %(a)s)),
uv AS (UPDATE {t["AttributeValue"]} AS ours SET text_value = x.text_value, number_value = x.number_value,
              datetime_value = x.datetime_value, bool_value = x.bool_value, updated_at = x.updated_at
       FROM v AS x WHERE ours.customer_id = %(s)s AND x.customer_id = %(a)s
       AND x.attribute_id = ours.attribute_id AND x.updated_at > ours.updated_at),
dv AS (DELETE FROM {t["AttributeValue"]} WHERE customer_id = %(a)s
       AND attribute_id IN (SELECT attribute_id FROM v WHERE customer_id = %(s)s)),
mv AS (UPDATE {t["AttributeValue"]} SET customer_id = %(s)s WHERE customer_id = %(a)s
       AND attribute_id NOT IN (SELECT attribute_id FROM v WHERE customer_id = %(s)s)),
ac AS (UPDATE {t["Customer"]} SET merged_into_id = %(s)s, updated_at = %(now)s WHERE id = %(a)s),
sc AS (UPDATE {t["Customer"]} SET {", ".join(f"{c} = %({c})s" for c in _SURVIVOR_COLUMNS)}, updated_at = %(now)s
       WHERE id = %(s)s),
mr AS (
  INSERT INTO {t["MergeRecord"]} (team_id, survivor_id, absorbed_id, evidence, snapshot, merged_at, unmerged_by)
  SELECT %(team)s, %(s)s, %(a)s, %(evidence)s::jsonb, %(before)s::jsonb || jsonb_build_object(
    'contact_ids', {ids("c")},
    'binding_ids', {ids("b")},
    'order_ids', {ids("o")},
    'event_ids', {ids("e")},
    'points_ids', {ids("p")},
    'survivor_tag_ids', (SELECT coalesce(jsonb_agg(tag_id ORDER BY tag_id), '[]') FROM st),
    'absorbed_tags', (SELECT coalesce(jsonb_agg(jsonb_build_object('tag_id', tag_id, 'channel_id', channel_id,
                      'source', source, 'applied_at', applied_at) ORDER BY tag_id), '[]')
                      FROM (SELECT * FROM dt UNION ALL SELECT * FROM mt) tg),
    'survivor_values', (SELECT {_VALUE_JSON} FROM v WHERE customer_id = %(s)s),
    'absorbed_values', (SELECT {_VALUE_JSON} FROM v WHERE customer_id = %(a)s)
  ), %(now)s, ''
  RETURNING *
),
ev AS (
  INSERT INTO {t["CustomerEvent"]} (team_id, customer_id, type, occurred_at, data, created_at)
  SELECT mr.team_id, x.customer_id, %(type)s, mr.merged_at, jsonb_build_object('merge_id', mr.id,
         'survivor_id', mr.survivor_id, 'absorbed_id', mr.absorbed_id, 'evidence', mr.evidence), mr.merged_at
  FROM mr CROSS JOIN (VALUES (%(s)s), (%(a)s)) AS x (customer_id)
  RETURNING id
)
SELECT mr.*, ARRAY(SELECT id FROM ev ORDER BY id) AS event_ids FROM mr
"""
    return _MERGE_SQL


def _merge_rows_pg(survivor, absorbed, evidence, before, now, updates):
    """Run the one-statement merge (data-modifying CTEs always run to completion). Returns the MergeRecord, with
    the ids of the two timeline events it wrote as `event_ids`."""
    params = {
        **{key: updates.get(key, getattr(survivor, key)) for key in _SURVIVOR_COLUMNS},
        "type": EventType.MERGED.value,
        "team": survivor.team_id,
        "s": survivor.pk,
        "a": absorbed.pk,
        "now": now,
        "evidence": json.dumps(evidence),
        "before": json.dumps(before),
    }
    (record,) = MergeRecord.objects.raw(_merge_sql(), params)
    return record
