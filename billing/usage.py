"""Reads of the ledger for the account overview, the API and exports: usage statistics by month, feature and
channel, and the ledger and usage as CSV. Usage is Σ quantity (SMS 則) and Σ −amount (費用) of the debits and
their refunds, grouped by the plain feature/channel strings the debit carried; it is read from the monthly usage
rollup (UsageMonth) that every such ledger write updates in its own transaction (billing.services)."""

import datetime
import zoneinfo

from django.utils import timezone
from django.utils.translation import gettext as _

from core.csv_lines import BOM, CsvLines

from .models import Product, UsageMonth

DEFAULT_MONTHS = 12


def usage_rows(team, *, product="", month_from=None, month_to=None):
    """[{"month": date, "product", "feature", "channel", "quantity": int, "amount": Decimal}] newest month first.
    Without a range: the last DEFAULT_MONTHS team-local months."""
    tz = zoneinfo.ZoneInfo(team.time_zone)
    if month_to is None:
        month_to = timezone.localdate(timezone=tz).replace(day=1)
    if month_from is None:
        month_from = month_to
        for _step in range(DEFAULT_MONTHS - 1):
            month_from = (month_from - datetime.timedelta(days=1)).replace(day=1)
    queryset = UsageMonth.objects.for_team(team).filter(
        month__gte=month_from.replace(day=1), month__lte=month_to.replace(day=1)
    )
    queryset = queryset.filter(product=product) if product else queryset.exclude(product=Product.NONE)
    rows = queryset.order_by("-month", "product", "feature", "channel").values(
        "month", "product", "feature", "channel", "quantity", "amount"
    )
    return [row | {"quantity": int(row["quantity"]), "amount": row["amount"] + 0} for row in rows]


def usage_csv(team, rows):
    lines = CsvLines()
    yield BOM + lines.row([_("月份"), _("項目"), _("功能"), _("渠道"), _("使用量"), _("費用"), _("幣別")])
    for row in rows:
        yield lines.row(
            [
                f"{row['month']:%Y-%m}",
                Product(row["product"]).label,
                row["feature"],
                row["channel"],
                row["quantity"],
                f"{row['amount']:.4f}",
                team.currency,
            ]
        )


LEDGER_CSV_BATCH = 2000


def ledger_csv(team, queryset):
    """The filtered ledger as CSV lines, newest first, in team-local time; streamed in keyset batches."""
    tz = zoneinfo.ZoneInfo(team.time_zone)
    lines = CsvLines()
    yield BOM + lines.row(
        [
            _("時間"),
            _("類型"),
            _("金額"),
            _("交易後餘額"),
            _("幣別"),
            _("功能"),
            _("渠道"),
            _("使用量"),
            _("備註"),
            _("參考"),
            _("操作者"),
        ]
    )
    queryset = queryset.order_by("-id")
    last_id = None
    while True:
        batch = list(queryset.filter(id__lt=last_id)[:LEDGER_CSV_BATCH] if last_id else queryset[:LEDGER_CSV_BATCH])
        for txn in batch:
            yield lines.row(
                [
                    timezone.localtime(txn.created_at, tz).strftime("%Y-%m-%d %H:%M:%S"),
                    txn.get_type_display(),
                    f"{txn.amount:.4f}",
                    f"{txn.balance_after:.4f}",
                    team.currency,
                    txn.feature,
                    txn.channel,
                    txn.quantity,
                    txn.note,
                    txn.reference,
                    txn.actor,
                ]
            )
        if len(batch) < LEDGER_CSV_BATCH:
            return
        last_id = batch[-1].id
