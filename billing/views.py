"""Console 帳戶總覽 (account overview): balance, ledger, usage statistics, SMS bills and their CSV exports."""

from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from accounts.decorators import team_required
from accounts.tenancy import for_team, get_for_team_or_404

from . import services, usage
from .filters import TransactionFilter, UsageFilterForm
from .models import MonthlyBill, Product

VIEW = "billing.view"
LEDGER_PAGE = 50


class LedgerPage(list):
    """One page of the ledger with previous / next and no total: a team's ledger grows by one row per SMS, and
    counting a million rows on every visit cost ~0.4 s (bench billing_overview). Fetches one row more than shown
    to know whether there is a next page."""

    def __init__(self, queryset, number, size=LEDGER_PAGE):
        try:
            self.number = min(max(1, int(number or 1)), 1_000_000)  # an OFFSET the database can take
        except (TypeError, ValueError):
            self.number = 1
        start = (self.number - 1) * size
        rows = list(queryset[start : start + size + 1])
        super().__init__(rows[:size])
        self.has_next = len(rows) > size
        self.has_previous = self.number > 1
        self.has_other_pages = self.has_next or self.has_previous
        self.next_page_number = self.number + 1
        self.previous_page_number = self.number - 1


def _csv(lines, filename):
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
@team_required(VIEW)
def index(request):
    team = request.team
    ledger = TransactionFilter(request.GET, team=team)
    usage_form = UsageFilterForm(request.GET)
    usage_rows = usage.usage_rows(team, **_usage_range(usage_form)) if usage_form.is_valid() else []
    page = LedgerPage(ledger.qs if ledger.is_valid() else ledger.queryset.none(), request.GET.get("page"))
    context = {
        "section": "billing",
        "account": services.get_account(team),
        "ledger": ledger,
        "page": page,
        "usage_form": usage_form,
        "usage_rows": usage_rows,
        "bills": for_team(MonthlyBill, team)[:24],
        "query": request.GET.copy(),
    }
    return render(request, "billing/overview.html", context)


def _usage_range(form):
    return {
        "product": form.cleaned_data["product"],
        "month_from": form.cleaned_data["month_from"],
        "month_to": form.cleaned_data["month_to"],
    }


@require_GET
@team_required(VIEW)
def ledger_csv(request):
    ledger = TransactionFilter(request.GET, team=request.team)
    if not ledger.is_valid():
        return HttpResponse(_("篩選條件有誤：%(errors)s") % {"errors": ledger.errors.as_text()}, status=400)
    return _csv(usage.ledger_csv(request.team, ledger.qs), "ledger.csv")


@require_GET
@team_required(VIEW)
def usage_csv(request):
    """Usage statistics as CSV; `?product=sms` is the SMS usage export (帳戶總覽的用量統計支援匯出 SMS 用量)."""
    form = UsageFilterForm(request.GET)
    if not form.is_valid():
        return HttpResponse(_("篩選條件有誤：%(errors)s") % {"errors": form.errors.as_text()}, status=400)
    rows = usage.usage_rows(request.team, **_usage_range(form))
    name = "sms-usage.csv" if form.cleaned_data["product"] == Product.SMS else "usage.csv"
    return _csv(usage.usage_csv(request.team, rows), name)


@require_GET
@team_required(VIEW)
def bill(request, pk):
    bill = get_for_team_or_404(MonthlyBill, request.team, pk)
    return render(request, "billing/bill.html", {"section": "billing", "bill": bill})


@require_GET
@team_required(VIEW)
def bill_csv(request, pk):
    bill = get_for_team_or_404(MonthlyBill, request.team, pk)
    response = HttpResponse(services.bill_csv(bill), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="sms-bill-{bill.month:%Y-%m}.csv"'
    return response
