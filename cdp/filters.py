"""The customer list's search and filters, its sort orders and its keyset pagination.

Every filter on related rows (channel, tag, subscription status) is an Exists() subquery over an indexed
(team, ...) table, never a JOIN + DISTINCT. Pages are keyset pages on (created_at, id) (newest or oldest first) or
(last_customer_interaction_at, id), each served by a (team, column, id) index, so page N costs the same as page 1
at a million customers.
"""

from datetime import datetime

import django_filters
from django import forms
from django.db.models import Exists, F, OuterRef, Q
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ValidationError as DRFValidationError

from core.params import parse_id

from .models import AttributeValue, Channel, Contact, CustomAttribute, Customer, CustomerTag, SubscriptionStatus, Tag
from .services import attributes

PAGE_SIZE = 50
BOUND_CHOICES = [("yes", _("已綁定")), ("no", _("未綁定"))]
MEMBER_CHOICES = [("yes", _("會員")), ("no", _("非會員"))]
SORT_CHOICES = [
    ("newest", _("建立時間：由新到舊")),
    ("oldest", _("建立時間：由舊到新")),
    ("last_interaction", _("最後互動時間：由近到遠")),
]
DEFAULT_SORT = "newest"


class CustomerFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_search", label=_("搜尋"))
    channel = django_filters.ModelChoiceFilter(
        queryset=Channel.objects.none(), method="filter_channel", label=_("渠道"), empty_label=_("全部渠道")
    )
    tag = django_filters.ModelChoiceFilter(
        queryset=Tag.objects.none(), method="filter_tag", label=_("標籤"), empty_label=_("全部標籤")
    )
    status = django_filters.ChoiceFilter(
        choices=SubscriptionStatus.choices, method="filter_status", label=_("訂閱狀態"), empty_label=_("全部狀態")
    )
    bound = django_filters.ChoiceFilter(
        choices=BOUND_CHOICES, method="filter_flag", label=_("社群身份綁定"), empty_label=_("綁定：全部")
    )
    member = django_filters.ChoiceFilter(
        choices=MEMBER_CHOICES, method="filter_flag", label=_("官網會員"), empty_label=_("會員：全部")
    )
    # The order only: keyset_page applies it (the export and bulk actions ignore it).
    sort = django_filters.ChoiceFilter(choices=SORT_CHOICES, method="keep", label=_("排序"), empty_label=None)

    class Meta:
        model = Customer
        fields = []

    def __init__(self, data=None, *, team, **kwargs):
        self.team = team
        super().__init__(data, queryset=Customer.objects.for_team(team).active(), **kwargs)
        self.filters["channel"].queryset = Channel.objects.for_team(team)
        # Archived tags stay on the customers that carry them, so they can still be filtered by (listed last).
        self.filters["tag"].queryset = Tag.objects.for_team(team).order_by(
            F("archived_at").asc(nulls_first=True), "name"
        )
        self.form.fields["tag"].label_from_instance = _tag_label
        self.form.fields["q"].widget = forms.TextInput(
            attrs={"type": "search", "placeholder": _("搜尋姓名、電話、Email 或會員編號")}
        )

    def _contacts(self):
        return Contact.objects.filter(team=self.team, customer=OuterRef("pk"))

    def filter_search(self, queryset, name, value):
        return queryset.search(self.team, value)

    def filter_channel(self, queryset, name, value):
        if self.form.cleaned_data.get("status"):
            return queryset  # applied together with the status, as one subquery
        return queryset.filter(Exists(self._contacts().filter(channel=value)))

    def filter_status(self, queryset, name, value):
        contacts = self._contacts().filter(status=value)
        channel = self.form.cleaned_data.get("channel")
        if channel:
            contacts = contacts.filter(channel=channel)
        return queryset.filter(Exists(contacts))

    def filter_tag(self, queryset, name, value):
        tagged = CustomerTag.objects.filter(team=self.team, customer=OuterRef("pk"), tag=value)
        return queryset.filter(Exists(tagged))

    def filter_flag(self, queryset, name, value):
        field = "is_bound" if name == "bound" else "is_member"
        return queryset.filter(**{field: value == "yes"})

    def keep(self, queryset, name, value):
        return queryset

    @property
    def chosen_sort(self):
        """The chosen order ("newest" when none or the form is invalid)."""
        cleaned = getattr(self.form, "cleaned_data", None) or {}
        return cleaned.get("sort") or DEFAULT_SORT


class CustomerApiFilter(django_filters.FilterSet):
    """GET /api/v1/customers' filters (documented in the OpenAPI schema from these declarations). The team is the
    request's; `search` is the console's indexed search (Customer.objects.search)."""

    search = django_filters.CharFilter(
        method="filter_search", label="Member id, phone (any local form), email, channel id, tag or name prefix"
    )
    tag = django_filters.CharFilter(method="filter_tag", label="Tag name or id (repeatable; all must match)")
    attribute = django_filters.CharFilter(
        method="filter_attribute", label="key (has a value) or key:value (repeatable)"
    )
    bound = django_filters.BooleanFilter(field_name="is_bound", label="Bound to a website identity")
    member = django_filters.BooleanFilter(field_name="is_member", label="A website member")
    channel = django_filters.ModelChoiceFilter(
        queryset=Channel.objects.all(), method="filter_channel", label="Has a contact on this channel"
    )

    class Meta:
        model = Customer
        fields = []

    @property
    def team(self):
        return self.request.auth.team

    def _values(self, name, value):
        """Every value of a repeatable parameter (the filter itself sees the last one)."""
        getlist = getattr(self.data, "getlist", None)
        return [v for v in (getlist(name) if getlist else [value]) if v]

    def filter_search(self, queryset, name, value):
        return queryset.search(self.team, value)

    def filter_tag(self, queryset, name, value):
        for tag in self._values(name, value):
            tag_id = parse_id(tag)
            by = Q(tag__name=tag) | (Q(tag_id=tag_id) if tag_id is not None else Q(pk__in=[]))
            queryset = queryset.filter(Exists(CustomerTag.objects.filter(by, team=self.team, customer=OuterRef("pk"))))
        return queryset

    def filter_attribute(self, queryset, name, value):
        for spec in self._values(name, value):
            key, sep, raw = spec.partition(":")
            attribute = CustomAttribute.objects.for_team(self.team).filter(key=key).first()
            if attribute is None:
                raise DRFValidationError({"attribute": [f"Unknown attribute: {key}"]})
            values = AttributeValue.objects.filter(team=self.team, attribute=attribute, customer=OuterRef("pk"))
            if sep:
                try:
                    columns = attributes.convert(attribute, raw, self.team.zone)
                except ValueError as exc:
                    raise DRFValidationError({"attribute": [f"{key}: {exc}"]})
                values = values.filter(**{k: v for k, v in (columns or {}).items() if v is not None})
            queryset = queryset.filter(Exists(values))
        return queryset

    def filter_channel(self, queryset, name, value: int):
        return queryset.filter(Exists(Contact.objects.filter(team=self.team, channel=value, customer=OuterRef("pk"))))


def encode_cursor(customer, sort=DEFAULT_SORT):
    """The position after `customer` in `sort` order; "-" stands for no last interaction (listed last)."""
    if sort == "last_interaction":
        stamp = customer.last_customer_interaction_at
        return f"{stamp.isoformat() if stamp else '-'}_{customer.pk}"
    return f"{customer.created_at.isoformat()}_{customer.pk}"


def decode_cursor(value):
    """(created_at, id) from a cursor, or None if it is malformed (then the first page is shown)."""
    try:
        stamp, pk = value.rsplit("_", 1)
        return datetime.fromisoformat(stamp), int(pk)
    except (ValueError, AttributeError):
        return None


def _decode_interaction_cursor(value):
    """(stamp or None, id) for the last-interaction order; None if malformed."""
    stamp, _sep, pk = (value or "").rpartition("_")
    if stamp == "-":
        try:
            return None, int(pk)
        except ValueError:
            return None
    return decode_cursor(value)


# Counting every match of a large team is slow; above this the list says "more than 10,000" (issue 20.16).
EXACT_COUNT_LIMIT = 10000


def count_up_to(queryset, limit=EXACT_COUNT_LIMIT):
    """(count, exact): the number of matches, exact up to ``limit``; (limit, False) when there are more."""
    found = queryset.order_by().values("pk")[: limit + 1].count()
    return (found, True) if found <= limit else (limit, False)


def keyset_page(queryset, cursor=None, size=PAGE_SIZE, sort=DEFAULT_SORT):
    """One page in `sort` order after `cursor`; returns (rows, next cursor or None)."""
    if sort == "last_interaction":
        rows = _interaction_page(queryset, cursor, size)
    else:
        position = decode_cursor(cursor) if cursor else None
        newest = sort != "oldest"
        if position:
            created_at, pk = position
            if newest:
                queryset = queryset.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, id__lt=pk))
            else:
                queryset = queryset.filter(Q(created_at__gt=created_at) | Q(created_at=created_at, id__gt=pk))
        order = ("-created_at", "-id") if newest else ("created_at", "id")
        rows = list(queryset.order_by(*order)[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return rows, (encode_cursor(rows[-1], sort) if more else None)


def _interaction_page(queryset, cursor, size):
    """Most recent interaction first, then the customers who never interacted (newest id first): two index range
    scans instead of one NULLS LAST sort that no (team, column, id) index serves."""
    position = _decode_interaction_cursor(cursor) if cursor else None
    field = "last_customer_interaction_at"
    rows = []
    if position is None or position[0] is not None:
        dated = queryset.filter(**{f"{field}__isnull": False})
        if position:
            stamp, pk = position
            dated = dated.filter(Q(**{f"{field}__lt": stamp}) | Q(**{field: stamp, "id__lt": pk}))
        rows = list(dated.order_by(f"-{field}", "-id")[: size + 1])
    if len(rows) <= size:
        undated = queryset.filter(**{f"{field}__isnull": True})
        if position and position[0] is None:
            undated = undated.filter(id__lt=position[1])
        rows += list(undated.order_by("-id")[: size + 1 - len(rows)])
    return rows


def _tag_label(tag):
    return tag.name if tag.archived_at is None else _("%(name)s（已封存）") % {"name": tag.name}
