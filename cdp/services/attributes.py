"""Custom attributes (自訂屬性): definitions, typed values, and their timeline events.

Keys match [A-Za-z0-9_]+ and are case-sensitive ("Level" and "level" are two attributes). Values are validated
against the definition's type; every error names the key. Storage: text → text_value (at most 1,000
characters), number → number_value (decimal), date → datetime_value at 00:00 UTC of that date, datetime →
datetime_value (naive values are read in the team's time zone), boolean → bool_value. None clears a value.

Writes are ordered by event time: a value whose occurred_at is older than the stored value's updated_at is a
late delivery and does not overwrite it. Changing a type clears the values of the old type (they would not
mean the same thing); the console warns before doing so.
"""

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from accounts import notify

from ..events import record_events
from ..models import AttributeType, AttributeTypeChange, AttributeValue, CustomAttribute, CustomerEvent, EventType

KEY_RE = re.compile(r"^[A-Za-z0-9_]+$")
MAX_TEXT = 1000
MAX_KEY = 64
TRUE = {"true", "1", "yes", "y", "t", "是"}
FALSE = {"false", "0", "no", "n", "f", "否"}


def validate_key(key):
    if not isinstance(key, str) or not KEY_RE.match(key):
        raise ValidationError({"key": [_("屬性代碼只能使用英文字母、數字與底線：%(key)s") % {"key": key}]})
    if len(key) > MAX_KEY:
        raise ValidationError({"key": [_("屬性代碼最多 %(n)s 個字元。") % {"n": MAX_KEY}]})
    return key


def define_attribute(team, key, label, type):
    validate_key(key)
    if type not in AttributeType.values:
        raise ValidationError({"type": [_("未知的屬性類型：%(type)s") % {"type": type}]})
    label = (label or key).strip()[:120]
    try:
        with transaction.atomic():
            return CustomAttribute.objects.create(team=team, key=key, label=label, type=type)
    except IntegrityError:
        raise ValidationError({"key": [_("屬性代碼「%(key)s」已存在。") % {"key": key}]})


def convert(attribute, value, zone=dt.UTC):
    """Return {column: value} for `value` under the attribute's type, or raise ValueError with a message."""
    kind = attribute.type
    columns = {"text_value": None, "number_value": None, "datetime_value": None, "bool_value": None}
    if value is None or value == "":
        return None
    if kind == AttributeType.TEXT:
        if isinstance(value, dict | list):
            raise ValueError(_("必須是文字。"))
        text = str(value)
        if len(text) > MAX_TEXT:
            raise ValueError(_("文字最多 %(n)s 個字元（目前 %(len)s）。") % {"n": MAX_TEXT, "len": len(text)})
        columns["text_value"] = text
    elif kind == AttributeType.NUMBER:
        if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
            raise ValueError(_("必須是數字。"))
        try:
            number = Decimal(str(value).strip().replace(",", ""))
        except InvalidOperation:
            raise ValueError(_("必須是數字：%(value)s") % {"value": value})
        if not number.is_finite() or abs(number) >= Decimal("1e14"):
            raise ValueError(_("數字超出範圍：%(value)s") % {"value": value})
        columns["number_value"] = number.quantize(Decimal("0.000001"))
    elif kind == AttributeType.DATE:
        parsed = value if isinstance(value, dt.date) and not isinstance(value, dt.datetime) else None
        if parsed is None and isinstance(value, str):
            try:
                parsed = parse_date(value.strip().replace("/", "-"))
            except ValueError:
                parsed = None
        if parsed is None:
            raise ValueError(_("必須是日期（YYYY-MM-DD）：%(value)s") % {"value": value})
        columns["datetime_value"] = dt.datetime(parsed.year, parsed.month, parsed.day, tzinfo=dt.UTC)
    elif kind == AttributeType.DATETIME:
        parsed = value if isinstance(value, dt.datetime) else None
        if parsed is None and isinstance(value, str):
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:
                parsed = None
        if parsed is None:
            raise ValueError(_("必須是 ISO 8601 日期時間：%(value)s") % {"value": value})
        if timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed, zone)
        columns["datetime_value"] = parsed
    else:
        if isinstance(value, bool):
            columns["bool_value"] = value
        elif isinstance(value, int | str) and str(value).strip().lower() in TRUE | FALSE:
            columns["bool_value"] = str(value).strip().lower() in TRUE
        else:
            raise ValueError(_("必須是 true 或 false：%(value)s") % {"value": value})
    return columns


def display(attribute_type, columns):
    """A JSON-friendly form of a stored value (for events and the API)."""
    if columns is None:
        return None
    if attribute_type == AttributeType.TEXT:
        return columns["text_value"]
    if attribute_type == AttributeType.NUMBER:
        number = columns["number_value"]
        if number is None:
            return None
        number = Decimal(number).normalize()
        return int(number) if number == number.to_integral_value() else float(number)
    if attribute_type == AttributeType.DATE:
        value = columns["datetime_value"]
        return value.date().isoformat() if value else None
    if attribute_type == AttributeType.DATETIME:
        value = columns["datetime_value"]
        return value.isoformat() if value else None
    return columns["bool_value"]


def value_of(attribute_value):
    columns = {c: getattr(attribute_value, c) for c in ("text_value", "number_value", "datetime_value", "bool_value")}
    return display(attribute_value.attribute.type, columns)


def validate_values(team, values):
    """Check every key and value. Returns [(attribute, columns or None)]; ValidationError keyed by key."""
    if not isinstance(values, dict):
        raise ValidationError({"attributes": [_("自訂屬性必須是 {key: value} 物件。")]})
    definitions = {a.key: a for a in CustomAttribute.objects.for_team(team).filter(key__in=list(values))}
    errors, out = {}, []
    for key, value in values.items():
        attribute = definitions.get(key)
        if attribute is None:
            errors[key] = [_("未定義的自訂屬性：%(key)s") % {"key": key}]
        elif not attribute.is_active:
            errors[key] = [_("自訂屬性已封存：%(key)s") % {"key": key}]
        else:
            try:
                out.append((attribute, convert(attribute, value, team.zone)))
            except ValueError as exc:
                errors[key] = [f"{key}: {exc}"]
    if errors:
        raise ValidationError(errors)
    return out


def set_attributes(*, customer, values, source, occurred_at=None):
    """Validate all values first (nothing is written if any is bad), then upsert them in bulk.

    Returns the keys whose value changed. attribute_changed events carry {"key", "old", "new", "source"}.
    """
    occurred_at = occurred_at or timezone.now()
    checked = validate_values(customer.team, values)
    if not checked:
        return []
    changed_keys, events = [], []
    with transaction.atomic():
        existing = {
            v.attribute_id: v
            for v in AttributeValue.objects.select_for_update().filter(
                customer=customer, attribute_id__in=[a.pk for a, _c in checked]
            )
        }
        create, update, delete = [], [], []
        for attribute, columns in checked:
            current = existing.get(attribute.pk)
            if current is not None:
                current.attribute = attribute
            if current is not None and current.updated_at > occurred_at:
                continue  # a late delivery of an older write
            old = value_of(current) if current is not None else None
            new = display(attribute.type, columns)
            if old == new and (current is not None) == (columns is not None):
                continue
            if columns is None:
                delete.append(current.pk)
            elif current is None:
                create.append(
                    AttributeValue(
                        team_id=customer.team_id,
                        customer=customer,
                        attribute=attribute,
                        updated_at=occurred_at,
                        **columns,
                    )
                )
            else:
                for column, value in columns.items():
                    setattr(current, column, value)
                current.updated_at = occurred_at
                update.append(current)
            changed_keys.append(attribute.key)
            events.append(
                CustomerEvent(
                    team_id=customer.team_id,
                    customer_id=customer.pk,
                    type=EventType.ATTRIBUTE_CHANGED,
                    occurred_at=occurred_at,
                    data={"key": attribute.key, "old": old, "new": new, "source": source},
                )
            )
        if delete:
            AttributeValue.objects.filter(pk__in=delete).delete()
        if create:
            AttributeValue.objects.bulk_create(create)
        if update:
            AttributeValue.objects.bulk_update(
                update, ["text_value", "number_value", "datetime_value", "bool_value", "updated_at"]
            )
        record_events(events)
    return changed_keys


def rename_attribute(attribute, label):
    attribute.label = (label or "").strip()[:120] or attribute.key
    attribute.save(update_fields=["label", "updated_at"])
    return attribute


@transaction.atomic
def change_attribute_type(attribute, new_type):
    """Change the type: recorded, old values cleared, and journeys told (accounts.notify "attribute_retyped")."""
    if new_type not in AttributeType.values:
        raise ValidationError({"type": [_("未知的屬性類型：%(type)s") % {"type": new_type}]})
    if new_type == attribute.type:
        return attribute
    AttributeTypeChange.objects.create(
        team_id=attribute.team_id, attribute=attribute, old_type=attribute.type, new_type=new_type
    )
    AttributeValue.objects.filter(attribute=attribute).delete()
    attribute.type = new_type
    attribute.save(update_fields=["type", "updated_at"])
    notify.emit(attribute.team_id, "attribute_retyped", attribute_id=attribute.pk, key=attribute.key)
    return attribute


@transaction.atomic
def archive_attribute(attribute):
    if attribute.archived_at is None:
        attribute.archived_at = timezone.now()
        attribute.save(update_fields=["archived_at", "updated_at"])
        notify.emit(attribute.team_id, "attribute_archived", attribute_id=attribute.pk, key=attribute.key)
    return attribute


def unarchive_attribute(attribute):
    attribute.archived_at = None
    attribute.save(update_fields=["archived_at", "updated_at"])
    return attribute
