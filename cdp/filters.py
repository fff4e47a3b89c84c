"""The customer list's search and filters, and its keyset pagination.

Every filter on related rows (channel, tag, subscription status) is an Exists() subquery over an indexed
(team, ...) table, never a JOIN + DISTINCT. Pages are keyset pages on (created_at, id), newest first, so page
N costs the same as page 1 at a million customers.
"""

from datetime import datetime

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Exists, F, OuterRef, Q
from django.utils.translation import gettext_lazy as _

from .models import Channel, Contact, Customer, CustomerTag, SubscriptionStatus, Tag
from .phones import normalize_phone

PAGE_SIZE = 50
MAX_EXACT = 500
BOUND_CHOICES = [("yes", _("已綁定")), ("no", _("未綁定"))]
MEMBER_CHOICES = [("yes", _("會員")), ("no", _("非會員"))]


def search_q(team, term):
    """Customers matching `term`: member id, phone, email, channel id (contact external_id), tag or name prefix.

    Exact identifiers are resolved first with small indexed lookups (member id, email, phone, contact external id,
    tag name); only when none of them hits is the term used as a name prefix. So an id search costs a few index
    probes however old the customer, and the list query never ORs an unindexable condition with a subquery.
    """
    term = term.strip()
    if not term:
        return Q()
    customers = Customer.objects.for_team(team).active()  # matches the partial unique index on member_id
    contacts = Contact.objects.for_team(team)
    ids = set(customers.filter(member_id=term).values_list("pk", flat=True)[:MAX_EXACT])
    ids.update(contacts.filter(external_id=term).values_list("customer_id", flat=True)[:MAX_EXACT])
    if "@" in term:
        ids.update(customers.filter(email=term.lower()).values_list("pk", flat=True)[:MAX_EXACT])
    digits = term.replace(" ", "").replace("-", "")
    if digits.lstrip("+").isdigit() and len(digits) >= 8:
        try:
            phone = normalize_phone(digits, team.default_region)
        except ValidationError:
            phone = ""
        if phone:
            ids.update(customers.filter(phone=phone).values_list("pk", flat=True)[:MAX_EXACT])
            ids.update(contacts.filter(phone=phone).values_list("customer_id", flat=True)[:MAX_EXACT])
    query = Q(pk__in=sorted(ids)) if ids else Q()
    tag_ids = list(Tag.objects.filter(team=team, name=term).values_list("id", flat=True)[:1])
    if tag_ids:
        tagged = Q(Exists(CustomerTag.objects.filter(team=team, customer=OuterRef("pk"), tag_id=tag_ids[0])))
        query = (query | tagged) if ids else tagged
    if not ids and not tag_ids:
        query = Q(name__startswith=term)
    return query


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
            attrs={"type": "search", "placeholder": _("會員編號、電話、Email、姓名、渠道 ID 或標籤")}
        )

    def _contacts(self):
        return Contact.objects.filter(team=self.team, customer=OuterRef("pk"))

    def filter_search(self, queryset, name, value):
        return queryset.filter(search_q(self.team, value))

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


def encode_cursor(customer):
    return f"{customer.created_at.isoformat()}_{customer.pk}"


def decode_cursor(value):
    """(created_at, id) from a cursor, or None if it is malformed (then the first page is shown)."""
    try:
        stamp, pk = value.rsplit("_", 1)
        return datetime.fromisoformat(stamp), int(pk)
    except (ValueError, AttributeError):
        return None


def keyset_page(queryset, cursor=None, size=PAGE_SIZE):
    """One page, newest first, after `cursor`; returns (rows, next cursor or None)."""
    position = decode_cursor(cursor) if cursor else None
    if position:
        created_at, pk = position
        queryset = queryset.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, id__lt=pk))
    rows = list(queryset.order_by("-created_at", "-id")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return rows, (encode_cursor(rows[-1]) if more else None)


def _tag_label(tag):
    return tag.name if tag.archived_at is None else _("%(name)s（已封存）") % {"name": tag.name}
