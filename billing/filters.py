"""The ledger's filters (type, team-local date range), shared by the console and the API."""

import datetime
import zoneinfo

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Product, Transaction, TransactionType


class TransactionFilter(django_filters.FilterSet):
    type = django_filters.ChoiceFilter(choices=TransactionType.choices, label=_("類型"), empty_label=_("全部類型"))
    date_from = django_filters.DateFilter(
        method="filter_date_from", label=_("起始日"), widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = django_filters.DateFilter(
        method="filter_date_to", label=_("結束日"), widget=forms.DateInput(attrs={"type": "date"})
    )

    class Meta:
        model = Transaction
        fields = []

    def __init__(self, data=None, *, team, **kwargs):
        self.team = team
        kwargs.pop("queryset", None)
        super().__init__(data, queryset=Transaction.objects.for_team(team), **kwargs)

    def _day_start(self, day):
        return datetime.datetime.combine(day, datetime.time.min, tzinfo=zoneinfo.ZoneInfo(self.team.time_zone))

    def filter_date_from(self, queryset, name, value):
        return queryset.filter(created_at__gte=self._day_start(value))

    def filter_date_to(self, queryset, name, value):
        return queryset.filter(created_at__lt=self._day_start(value + datetime.timedelta(days=1)))


class UsageFilterForm(forms.Form):
    """Usage statistics: which product, which months (YYYY-MM, team-local)."""

    product = forms.ChoiceField(
        label=_("項目"),
        required=False,
        choices=[("", _("全部項目")), (Product.SMS, "SMS"), (Product.WHATSAPP, "WhatsApp")],
    )
    month_from = forms.DateField(label=_("起始月份"), required=False, input_formats=["%Y-%m"])
    month_to = forms.DateField(label=_("結束月份"), required=False, input_formats=["%Y-%m"])

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("month_from") and cleaned.get("month_to") and cleaned["month_from"] > cleaned["month_to"]:
            self.add_error("month_to", _("結束月份不可早於起始月份。"))
        return cleaned
