"""Tags on customers: add / remove (with their timeline events), bulk add / remove, and tag management.

A tag is applied to the omni-customer, recording the channel and source that applied it and when. Adding a
tag the customer already has changes nothing (no event); archived tags cannot be applied.
"""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ..events import record_events
from ..models import Customer, CustomerEvent, CustomerTag, EventType, Tag

MAX_TAG_LENGTH = 100


def clean_names(names, field="tags"):
    """Strip, drop blanks and duplicates (order kept); ValidationError keyed by `field` for bad names."""
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list | tuple | set):
        raise ValidationError({field: [_("標籤必須是文字清單。")]})
    out = []
    for name in names:
        if not isinstance(name, str):
            raise ValidationError({field: [_("標籤必須是文字：%(value)r") % {"value": name}]})
        name = name.strip()
        if len(name) > MAX_TAG_LENGTH:
            raise ValidationError(
                {field: [_("標籤最多 %(n)s 個字元：%(value)s") % {"n": MAX_TAG_LENGTH, "value": name}]}
            )
        if name and name not in out:
            out.append(name)
    return out


def get_or_create_tags(team, names, *, field="tags"):
    """The Tag rows for `names`, creating missing ones in one INSERT. Archived tags are refused."""
    names = clean_names(names, field)
    if not names:
        return []
    Tag.objects.bulk_create([Tag(team=team, name=name) for name in names], ignore_conflicts=True)
    tags = {tag.name: tag for tag in Tag.objects.for_team(team).filter(name__in=names)}
    archived = [name for name in names if tags[name].archived_at is not None]
    if archived:
        raise ValidationError({field: [_("標籤已封存：%(names)s") % {"names": "、".join(archived)}]})
    return [tags[name] for name in names]


def _lock_customers(team_id, ids):
    """Lock the customers' rows (id order, as merges lock them) before reading which tags they hold: two concurrent
    tag changes of one customer then run one after the other, so each tag_added / tag_removed event (which starts
    journeys) is recorded once, for a change that really happened."""
    list(Customer.objects.select_for_update().filter(team_id=team_id, pk__in=ids).order_by("pk").values_list("pk"))


def add_tags(*, customer, names, source, channel=None, occurred_at=None):
    """Tag one customer. Returns the Tag rows named (new or already there); events only for new ones."""
    occurred_at = occurred_at or timezone.now()
    with transaction.atomic():
        tags = get_or_create_tags(customer.team, names)
        if not tags:
            return []
        _lock_customers(customer.team_id, [customer.pk])
        have = set(CustomerTag.objects.filter(customer=customer, tag__in=tags).values_list("tag_id", flat=True))
        new = [tag for tag in tags if tag.pk not in have]
        CustomerTag.objects.bulk_create(
            [
                CustomerTag(
                    team_id=customer.team_id,
                    customer=customer,
                    tag=tag,
                    channel=channel,
                    source=source,
                    applied_at=occurred_at,
                )
                for tag in new
            ],
            ignore_conflicts=True,
        )
        record_events(
            [_event(customer.team_id, customer.pk, EventType.TAG_ADDED, tag, occurred_at, channel) for tag in new]
        )
    return tags


def remove_tags(*, customer, names, source, occurred_at=None):
    """Untag one customer; unknown names or tags it does not have are ignored. Returns the removed Tags."""
    occurred_at = occurred_at or timezone.now()
    names = clean_names(names)
    with transaction.atomic():
        _lock_customers(customer.team_id, [customer.pk])
        rows = list(
            CustomerTag.objects.filter(customer=customer, tag__name__in=names, team_id=customer.team_id).select_related(
                "tag"
            )
        )
        if not rows:
            return []
        CustomerTag.objects.filter(pk__in=[row.pk for row in rows]).delete()
        record_events(
            [
                _event(customer.team_id, customer.pk, EventType.TAG_REMOVED, row.tag, occurred_at, None, source)
                for row in rows
            ]
        )
    return [row.tag for row in rows]


BULK_CHUNK = 5000


def _id_chunks(customer_ids):
    """Lists of at most BULK_CHUNK distinct ids from a list of ids or a queryset of customers (streamed by id, so
    "every customer matching the filter" never sits in memory at once)."""
    if hasattr(customer_ids, "values_list"):
        ids = customer_ids.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=BULK_CHUNK)
    else:
        ids = dict.fromkeys(customer_ids)
    chunk = []
    for pk in ids:
        chunk.append(pk)
        if len(chunk) == BULK_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def add_tags_bulk(*, team, customer_ids, names, source, channel=None, occurred_at=None):
    """Tag many customers at once (ids, or a team-scoped queryset): one INSERT per tag and chunk, events for the rows
    actually added. Returns how many tags were added."""
    occurred_at = occurred_at or timezone.now()
    if not hasattr(customer_ids, "values_list") and not customer_ids:
        return 0
    added = 0
    with transaction.atomic():
        tags = get_or_create_tags(team, names)
        if not tags:
            return 0
        for chunk in _id_chunks(customer_ids):
            _lock_customers(team.pk, chunk)
            for tag in tags:
                have = set(
                    CustomerTag.objects.filter(team=team, tag=tag, customer_id__in=chunk).values_list(
                        "customer_id", flat=True
                    )
                )
                new = [pk for pk in chunk if pk not in have]
                CustomerTag.objects.bulk_create(
                    [
                        CustomerTag(
                            team=team, customer_id=pk, tag=tag, channel=channel, source=source, applied_at=occurred_at
                        )
                        for pk in new
                    ],
                    ignore_conflicts=True,
                    batch_size=2000,
                )
                record_events(
                    [_event(team.pk, pk, EventType.TAG_ADDED, tag, occurred_at, channel, source) for pk in new]
                )
                added += len(new)
    return added


def remove_tags_bulk(*, team, customer_ids, names, source, occurred_at=None):
    """Untag many customers at once (ids, or a team-scoped queryset): one DELETE per chunk, a tag_removed event per
    row removed. Unknown names or tags a customer does not have are ignored. Returns how many tags were removed."""
    occurred_at = occurred_at or timezone.now()
    names = clean_names(names)
    if not names:
        return 0
    removed = 0
    with transaction.atomic():
        tags = {tag.pk: tag for tag in Tag.objects.for_team(team).filter(name__in=names)}
        if not tags:
            return 0
        for chunk in _id_chunks(customer_ids):
            _lock_customers(team.pk, chunk)
            rows = list(
                CustomerTag.objects.filter(team=team, tag_id__in=tags, customer_id__in=chunk).values_list(
                    "pk", "customer_id", "tag_id"
                )
            )
            if not rows:
                continue
            CustomerTag.objects.filter(team=team, pk__in=[pk for pk, _c, _t in rows]).delete()
            record_events(
                [
                    _event(team.pk, customer_id, EventType.TAG_REMOVED, tags[tag_id], occurred_at, None, source)
                    for _pk, customer_id, tag_id in rows
                ]
            )
            removed += len(rows)
    return removed


def _event(team_id, customer_id, type_, tag, occurred_at, channel, source=None):
    data = {"tag": tag.name, "tag_id": tag.pk}
    if source:
        data["source"] = source
    return CustomerEvent(
        team_id=team_id,
        customer_id=customer_id,
        channel=channel,
        type=type_,
        occurred_at=occurred_at,
        data=data,
    )


def _validate_name(name):
    names = clean_names([name], "name")
    if not names:
        raise ValidationError({"name": [_("請輸入標籤名稱。")]})
    return names[0]


def create_tag(team, name):
    name = _validate_name(name)
    try:
        with transaction.atomic():
            return Tag.objects.create(team=team, name=name)
    except IntegrityError:
        raise ValidationError({"name": [_("標籤「%(name)s」已存在。") % {"name": name}]})


def rename_tag(tag, name):
    name = _validate_name(name)
    if Tag.objects.for_team(tag.team_id).filter(name=name).exclude(pk=tag.pk).exists():
        raise ValidationError({"name": [_("標籤「%(name)s」已存在。") % {"name": name}]})
    try:
        with transaction.atomic():
            Tag.objects.filter(pk=tag.pk).update(name=name)
    except IntegrityError:
        raise ValidationError({"name": [_("標籤「%(name)s」已存在。") % {"name": name}]})
    tag.name = name
    return tag


def archive_tag(tag):
    """Archived tags stay on customers (history) but can no longer be applied."""
    if tag.archived_at is None:
        tag.archived_at = timezone.now()
        Tag.objects.filter(pk=tag.pk).update(archived_at=tag.archived_at)
    return tag


def unarchive_tag(tag):
    tag.archived_at = None
    Tag.objects.filter(pk=tag.pk).update(archived_at=None)
    return tag
