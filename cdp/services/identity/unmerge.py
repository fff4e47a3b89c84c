"""Un-merging: restoring the absorbed customer from its MergeRecord snapshot."""

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from ...events import record_events
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
from ..points import settle_unmerge
from .merge import _IDENTITY_FIELDS, _TIME_FIELDS, _VALUE_COLUMNS, _load, _merged_fields
from .resolve import UnmergeError, _lock_customers, _update

# --- un-merging ----------------------------------------------------------------------------------------------


def unmerge(*, merge_record, actor=""):
    """Undo a merge (see the module docs for what is restored and how later changes are attributed)."""
    with transaction.atomic():
        record = MergeRecord.objects.select_for_update().get(pk=merge_record.pk)
        if record.unmerged_at is not None:
            raise UnmergeError(_("這筆合併已取消過。"), code="already_unmerged")
        locked = _lock_customers(record.survivor_id, record.absorbed_id)
        survivor, absorbed = locked[record.survivor_id], locked[record.absorbed_id]
        if survivor.merged_into_id is not None:
            raise UnmergeError(_("存續顧客之後又被合併，請先取消較新的合併。"), code="survivor_merged_since")
        if absorbed.merged_into_id != survivor.pk:
            raise UnmergeError(_("被合併的顧客已不在這筆合併中。"))
        snap = record.snapshot
        now = timezone.now()
        contact_ids = snap["contact_ids"]

        # Contacts (and what is tied to them) go back.
        Contact.objects.filter(pk__in=contact_ids, customer=survivor).update(customer=absorbed)
        Binding.objects.filter(Q(pk__in=snap["binding_ids"]) | Q(contact_id__in=contact_ids), customer=survivor).update(
            customer=absorbed
        )
        Order.objects.filter(pk__in=snap["order_ids"], customer=survivor).update(customer=absorbed)
        PointsTransaction.objects.filter(pk__in=snap.get("points_ids", []), customer=survivor).update(customer=absorbed)
        CustomerEvent.objects.filter(
            Q(pk__in=snap["event_ids"]) | Q(contact_id__in=contact_ids, occurred_at__gte=record.merged_at),
            customer=survivor,
        ).update(customer=absorbed)

        # Tags: the absorbed customer gets its own rows back; the survivor loses the ones only it brought.
        survivor_before = set(snap["survivor_tag_ids"])
        brought = [row["tag_id"] for row in snap["absorbed_tags"] if row["tag_id"] not in survivor_before]
        CustomerTag.objects.filter(customer=survivor, tag_id__in=brought).delete()
        CustomerTag.objects.bulk_create(
            [
                CustomerTag(
                    team_id=record.team_id,
                    customer=absorbed,
                    tag_id=row["tag_id"],
                    channel_id=row["channel_id"],
                    source=row["source"],
                    applied_at=_load("applied_at", row["applied_at"]),
                )
                for row in snap["absorbed_tags"]
            ],
            ignore_conflicts=True,
        )

        # Attributes: values not written since the merge go back to what each customer had.
        _restore_values(record, survivor, absorbed)

        # Fields: the absorbed customer as it was; the survivor as it was, except what was written since the merge
        # and is its own: later interaction times always; identity fields when the member it holds now is its own
        # (held before the merge, or met after it) - a member id going back to the absorbed customer means the
        # logins since were the absorbed member's, so the survivor's identity goes back to before the merge.
        # Points lose what the absorbed customer brought.
        before_s, before_a = snap["survivor"], snap["absorbed"]
        loaded_s = {k: _load(k, v) for k, v in before_s.items()}
        merged = {
            **loaded_s,
            **_merged_fields(Customer(**loaded_s), Customer(**{k: _load(k, v) for k, v in before_a.items()})),
        }
        own_member = bool(survivor.member_id) and survivor.member_id != before_a["member_id"]
        updates = {}
        for key, value in loaded_s.items():
            current = getattr(survivor, key)
            kept = key in _TIME_FIELDS or (own_member and key in _IDENTITY_FIELDS)
            updates[key] = current if kept and current != merged[key] else value
        if own_member and not loaded_s["member_id"]:  # became a member after the merge: since its first login
            updates["is_member"] = True
            updates["member_since"] = (
                CustomerEvent.objects.filter(
                    customer=survivor,
                    type__in=[EventType.MEMBER_REGISTERED, EventType.MEMBER_LOGIN],
                    occurred_at__gte=record.merged_at,
                )
                .order_by("occurred_at")
                .values_list("occurred_at", flat=True)
                .first()
                or survivor.member_since
            )
        updates["points_balance"], updates["points_accumulated"] = settle_unmerge(
            survivor=survivor,
            balance=survivor.points_balance - before_a["points_balance"],
            accumulated=survivor.points_accumulated - before_a["points_accumulated"],
            now=now,
        )
        later_bindings = Binding.objects.filter(customer=survivor).order_by("bound_at").first()
        if later_bindings is not None:
            updates["is_bound"] = True
            if updates["first_bound_at"] is None or later_bindings.bound_at < updates["first_bound_at"]:
                updates["first_bound_at"] = later_bindings.bound_at
                updates["first_bound_method"] = later_bindings.method
        _update(survivor, updates)  # first: it may hand the member id back (partial unique constraint)
        Customer.objects.filter(pk=absorbed.pk).update(
            merged_into=None, updated_at=now, **{k: _load(k, v) for k, v in before_a.items()}
        )

        record.unmerged_at = now
        record.unmerged_by = str(actor or "")[:200]
        record.save(update_fields=["unmerged_at", "unmerged_by"])
        data = {"merge_id": record.pk, "survivor_id": survivor.pk, "absorbed_id": absorbed.pk, "actor": actor or ""}
        record_events(
            [
                CustomerEvent(
                    team_id=record.team_id, customer=survivor, type=EventType.UNMERGED, occurred_at=now, data=data
                ),
                CustomerEvent(
                    team_id=record.team_id, customer=absorbed, type=EventType.UNMERGED, occurred_at=now, data=data
                ),
            ]
        )
    absorbed.refresh_from_db()
    survivor.refresh_from_db()
    return survivor, absorbed


def _restore_values(record, survivor, absorbed):
    snap = record.snapshot
    current = {v.attribute_id: v for v in AttributeValue.objects.filter(customer=survivor)}
    survivor_before = {row["attribute_id"]: row for row in snap["survivor_values"]}
    untouched = {aid for aid, value in current.items() if value.updated_at <= record.merged_at}
    # Values the absorbed customer brought that nobody wrote since: leave the survivor.
    brought = [row["attribute_id"] for row in snap["absorbed_values"] if row["attribute_id"] not in survivor_before]
    AttributeValue.objects.filter(customer=survivor, attribute_id__in=[a for a in brought if a in untouched]).delete()
    # Survivor values overwritten by the merge and not written since: back to the survivor's own.
    restore = []
    for attribute_id, row in survivor_before.items():
        value = current.get(attribute_id)
        if value is not None and attribute_id in untouched:
            for column in _VALUE_COLUMNS:
                setattr(value, column, _value_from_row(column, row))
            restore.append(value)
    if restore:
        AttributeValue.objects.bulk_update(restore, _VALUE_COLUMNS)
    AttributeValue.objects.bulk_create(
        [
            AttributeValue(
                team_id=record.team_id,
                customer=absorbed,
                attribute_id=row["attribute_id"],
                **{column: _value_from_row(column, row) for column in _VALUE_COLUMNS},
            )
            for row in snap["absorbed_values"]
        ],
        ignore_conflicts=True,
    )


def _value_from_row(column, row):
    value = row[column]
    if value is None:
        return None
    if column in ("datetime_value", "updated_at"):
        return parse_datetime(value)
    if column == "number_value":
        from decimal import Decimal

        return Decimal(value)
    return value
