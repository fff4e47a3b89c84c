"""The seed 000 figures, read from the rollups (never from the contact table).

Every function takes the team first and returns plain data (dates, ints, strings) that the API serialises,
the console renders, the CSV export writes and analytics.charts draws, so all four show the same numbers.
Query parameters are checked by the clean_* functions, which raise ValidationError keyed by field.
"""

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext, pgettext_lazy

from cdp.models import BindingMethod, Channel, ContactSource
from core.params import parse_id

from . import rollups
from .models import BindingDay, ChannelDay, KpiSnapshot, SourceDay

MAX_CHANNELS = 5
MAX_RANGE_DAYS = 3660
UNITS = {
    "week": pgettext_lazy("analytics", "每週"),
    "month": pgettext_lazy("analytics", "每月"),
    "year": pgettext_lazy("analytics", "每年"),
}

# Labels of seed 000 (the cdp choices carry the same words; repeated here so this app's catalog has them).
SOURCE_LABELS = {
    ContactSource.IMPORT: pgettext_lazy("analytics", "匯入名單"),
    ContactSource.API_SYNC: pgettext_lazy("analytics", "API 同步"),
    ContactSource.MANUAL: pgettext_lazy("analytics", "手動新增"),
    ContactSource.OMO_BINDING: pgettext_lazy("analytics", "OMO 綁定"),
    ContactSource.KEYWORD: pgettext_lazy("analytics", "關鍵字自動回覆 / 指派"),
    ContactSource.WEBSITE_BINDING: pgettext_lazy("analytics", "官網綁定"),
    ContactSource.CART_REMARKETING: pgettext_lazy("analytics", "購物車再行銷"),
    ContactSource.IG_POST_REPLY: pgettext_lazy("analytics", "IG 貼文回覆"),
    ContactSource.FB_POST_REPLY: pgettext_lazy("analytics", "FB 貼文回覆"),
    ContactSource.FB_RECURRING_NOTIFICATION: pgettext_lazy("analytics", "FB 定期通知"),
    ContactSource.IG_LIVE_COMMENT_REPLY: pgettext_lazy("analytics", "IG 直播留言回覆"),
    ContactSource.IG_STORY_MENTION: pgettext_lazy("analytics", "IG 限動標註"),
    ContactSource.IG_STORY_REPLY: pgettext_lazy("analytics", "IG 限動回覆"),
    ContactSource.FB_AD_WHATSAPP: pgettext_lazy("analytics", "FB 廣告（點擊進入 WhatsApp）"),
    ContactSource.FB_AD_MESSENGER: pgettext_lazy("analytics", "FB 廣告（點擊進入 Messenger）"),
    ContactSource.COUPON: pgettext_lazy("analytics", "優惠券模組"),
    ContactSource.GAME: pgettext_lazy("analytics", "遊戲模組"),
    ContactSource.PIXEL: pgettext_lazy("analytics", "Pixel"),
    ContactSource.APP91_LINE_BINDING: pgettext_lazy("analytics", "91App LINE 會員綁定"),
    ContactSource.ORGANIC: pgettext_lazy("analytics", "自然流量"),
}
METHOD_LABELS = {
    BindingMethod.BINDING_PLUGIN: pgettext_lazy("analytics", "社群綁定插件"),
    BindingMethod.CHATBOT_TO_WEBSITE: pgettext_lazy("analytics", "機器人導向官網"),
    BindingMethod.CART_REMARKETING: pgettext_lazy("analytics", "購物車再行銷"),
    BindingMethod.PIXEL: pgettext_lazy("analytics", "Pixel（WhatsApp 限定）"),
    BindingMethod.COUPON: pgettext_lazy("analytics", "優惠券"),
    BindingMethod.OMNILINK: "OmniLink",
    BindingMethod.API: "API",
}
METRIC_LABELS = {
    "omni_customers": pgettext_lazy("analytics", "全渠道顧客"),
    "bound_customers": pgettext_lazy("analytics", "社群身份綁定"),
    "members": pgettext_lazy("analytics", "會員身份"),
    "bound_members": pgettext_lazy("analytics", "會員完成社群身份綁定"),
    "total_contacts": pgettext_lazy("analytics", "總聯絡人數"),
    "bound_valid_contacts": pgettext_lazy("analytics", "總社群身份綁定數"),
    "new_contacts": pgettext_lazy("analytics", "新聯絡人數"),
    "unsubscribes": pgettext_lazy("analytics", "取消訂閱數"),
}

PANEL_NOTES = {
    "total_contacts": pgettext_lazy("analytics", "累計人數"),
    "bound_valid_contacts": pgettext_lazy("analytics", "累計人數"),
    "new_contacts": pgettext_lazy("analytics", "新增次數"),
    "unsubscribes": pgettext_lazy("analytics", "新增次數"),
}
PANEL_HELP = {
    "total_contacts": pgettext_lazy("analytics", "各社群渠道中的聯絡人的數量總計。"),
    "bound_valid_contacts": pgettext_lazy("analytics", "各社群渠道中有效聯絡人完成社群身份綁定的人數總計。"),
    "new_contacts": pgettext_lazy("analytics", "各社群渠道中的新增聯絡人的次數總計。"),
    "unsubscribes": pgettext_lazy("analytics", "各社群渠道中的聯絡人取消訂閱（封鎖）的次數總計。"),
}


def today(team):
    return timezone.localtime(timezone.now(), team.zone).date()


def _ratio(part, whole):
    return round(part / whole, 4) if whole else 0.0


# --- 1. omni-customer KPIs ----------------------------------------------------------------------------------------


def kpis(team):
    """全渠道顧客 / 社群身份綁定 / 會員身份 / 會員完成社群身份綁定, with their share of omni-customers."""
    snapshot = KpiSnapshot.objects.filter(team=team).first()
    if snapshot is None:
        rollups.refresh_kpis(team)
        snapshot = KpiSnapshot.objects.get(team=team)
    total = snapshot.omni_customers
    return {
        "omni_customers": total,
        "bound_customers": snapshot.bound_customers,
        "bound_rate": _ratio(snapshot.bound_customers, total),
        "members": snapshot.members,
        "member_rate": _ratio(snapshot.members, total),
        "bound_members": snapshot.bound_members,
        "bound_member_rate": _ratio(snapshot.bound_members, total),
        "computed_at": snapshot.computed_at,
    }


# --- 2. channel contact overview ----------------------------------------------------------------------------------


@dataclass
class OverviewQuery:
    start: date
    end: date
    unit: str
    channels: list

    def as_params(self):
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "unit": self.unit,
            "channels": ",".join(str(c.pk) for c in self.channels),
        }


def _parse_date(value, field, errors):
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        errors[field] = [_("日期格式應為 YYYY-MM-DD。")]
        return None


def _channel_ids(raw):
    """`channels` as a list, a repeated parameter or a comma-separated string → list of strings."""
    if raw is None:
        return None
    values = raw if isinstance(raw, list | tuple) else [raw]
    out = []
    for value in values:
        out += [part.strip() for part in str(value).split(",") if part.strip()]
    return out


def clean_overview(team, start=None, end=None, unit=None, channels=None):
    """Validate the overview filters; defaults: the last 365 days, by month, the team's first 5 channels."""
    errors = {}
    end_day = _parse_date(end, "end", errors) if end else today(team)
    start_day = _parse_date(start, "start", errors) if start else (end_day or today(team)) - timedelta(days=364)
    unit = unit or "month"
    if unit not in UNITS:
        errors["unit"] = [_("時間單位應為 week、month 或 year。")]
    if start_day and end_day:
        if start_day > end_day:
            errors["start"] = [_("開始日期不可晚於結束日期。")]
        elif (end_day - start_day).days >= MAX_RANGE_DAYS:
            errors["start"] = [_("日期區間最長 %(n)s 天。") % {"n": MAX_RANGE_DAYS}]
    team_channels = Channel.objects.for_team(team).order_by("kind", "name", "pk")
    ids = _channel_ids(channels)
    if ids is None or not ids:
        chosen = list(team_channels[:MAX_CHANNELS])
    elif len(set(ids)) > MAX_CHANNELS:
        errors["channels"] = [_("最多同時選取 %(n)s 個渠道。") % {"n": MAX_CHANNELS}]
        chosen = []
    elif any(parse_id(value) is None for value in ids):
        errors["channels"] = [_("渠道應為渠道 ID。")]
        chosen = []
    else:
        wanted = list(dict.fromkeys(parse_id(value) for value in ids))
        found = {c.pk: c for c in team_channels.filter(pk__in=wanted)}
        missing = [pk for pk in wanted if pk not in found]
        if missing:
            errors["channels"] = [_("找不到渠道：%(ids)s") % {"ids": ", ".join(map(str, missing))}]
        chosen = [found[pk] for pk in wanted if pk in found]
    if errors:
        raise ValidationError(errors)
    return OverviewQuery(start=start_day, end=end_day, unit=unit, channels=chosen)


def periods(start, end, unit):
    """Consecutive (first day, last day, label) buckets covering [start, end], clipped to the range."""
    out = []
    day = start
    while day <= end:
        if unit == "week":
            bucket_start = day - timedelta(days=day.weekday())
            bucket_end = bucket_start + timedelta(days=6)
            label = bucket_start.isoformat()
        elif unit == "month":
            bucket_start = day.replace(day=1)
            bucket_end = day.replace(day=calendar.monthrange(day.year, day.month)[1])
            label = f"{day.year:04d}-{day.month:02d}"
        else:
            bucket_start = day.replace(month=1, day=1)
            bucket_end = day.replace(month=12, day=31)
            label = f"{day.year:04d}"
        first, last = max(bucket_start, start), min(bucket_end, end)
        out.append((first, last, label))
        day = last + timedelta(days=1)
    return out


def contact_overview(team, query):
    """The four charts of 渠道聯絡人總覽 for the range, unit and channels of `query`.

    total_contacts and bound_valid_contacts are counts at the end of each period (cumulative); new_contacts
    and unsubscribes are counts of events within the period. A period with no data is 0.
    """
    channel_ids = [c.pk for c in query.channels]
    rows = ChannelDay.objects.filter(team=team, channel_id__in=channel_ids)
    baseline = {
        row["channel_id"]: (row["total"] or 0, row["bound_valid"] or 0)
        for row in rows.filter(day__lt=query.start)
        .values("channel_id")
        .annotate(total=Sum("new_contacts"), bound_valid=Sum("bound_valid_delta"))
    }
    daily = rows.filter(day__gte=query.start, day__lte=query.end).values_list(
        "channel_id", "day", "new_contacts", "unsubscribes", "bound_valid_delta"
    )
    buckets = periods(query.start, query.end, query.unit)
    index = {}
    for i, (first, last, _label) in enumerate(buckets):
        day = first
        while day <= last:
            index[day] = i
            day += timedelta(days=1)
    sums = {pk: [[0, 0, 0] for _ in buckets] for pk in channel_ids}
    for channel_id, day, new, unsub, bound_delta in daily:
        cell = sums[channel_id][index[day]]
        cell[0] += new
        cell[1] += unsub
        cell[2] += bound_delta
    series = []
    for channel in query.channels:
        total, bound_valid = baseline.get(channel.pk, (0, 0))
        totals, bounds, news, unsubs = [], [], [], []
        for new, unsub, bound_delta in sums[channel.pk]:
            total += new
            bound_valid += bound_delta
            totals.append(total)
            bounds.append(bound_valid)
            news.append(new)
            unsubs.append(unsub)
        series.append(
            {
                "channel": _channel_dict(channel),
                "total_contacts": totals,
                "bound_valid_contacts": bounds,
                "new_contacts": news,
                "unsubscribes": unsubs,
            }
        )
    return {
        "start": query.start,
        "end": query.end,
        "unit": query.unit,
        "periods": [{"start": first, "end": last, "label": label} for first, last, label in buckets],
        "series": series,
    }


def _channel_dict(channel):
    return {"id": channel.pk, "name": channel.name, "kind": channel.kind}


# --- 3 and 4. binding sources and new-contact sources of a month ------------------------------------------------


def clean_month(team, month=None):
    """'YYYY-MM' → the first day of that month (default: the current month in the team's zone)."""
    if not month:
        return today(team).replace(day=1)
    try:
        year, mon = str(month).strip().split("-")
        first = date(int(year), int(mon), 1)
    except ValueError:
        raise ValidationError({"month": [_("月份格式應為 YYYY-MM。")]})
    if not 2000 <= first.year <= 2100:
        raise ValidationError({"month": [_("月份格式應為 YYYY-MM。")]})
    return first


def _month_range(first):
    return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])


def binding_sources(team, month):
    """社群身份綁定來源: the month's bindings, in total and by method (every method listed, zeros included)."""
    first, last = _month_range(month)
    counts = dict(
        BindingDay.objects.filter(team=team, day__gte=first, day__lte=last)
        .values("method")
        .annotate(n=Sum("count"))
        .values_list("method", "n")
    )
    rows = [{"method": m, "label": str(label), "count": counts.get(m, 0) or 0} for m, label in METHOD_LABELS.items()]
    return {"month": f"{first:%Y-%m}", "total": sum(r["count"] for r in rows), "methods": rows}


def contact_sources(team, month):
    """新聯絡人來源: the month's new contacts, in total and by each of the 20 source types (zeros included)."""
    first, last = _month_range(month)
    counts = dict(
        SourceDay.objects.filter(team=team, day__gte=first, day__lte=last)
        .values("source")
        .annotate(n=Sum("count"))
        .values_list("source", "n")
    )
    rows = [{"source": s, "label": str(label), "count": counts.get(s, 0) or 0} for s, label in SOURCE_LABELS.items()]
    return {"month": f"{first:%Y-%m}", "total": sum(r["count"] for r in rows), "sources": rows}


# --- 5. valid contacts per channel ------------------------------------------------------------------------------


def valid_contacts(team):
    """社群渠道有效聯絡人: per channel valid, unsubscribed/blocked, total and valid / total; and all channels."""
    sums = {
        row["channel_id"]: row
        for row in ChannelDay.objects.filter(team=team)
        .values("channel_id")
        .annotate(total=Sum("new_contacts"), valid=Sum("valid_delta"))
    }
    channels = []
    for channel in Channel.objects.for_team(team).order_by("kind", "name", "pk"):
        row = sums.get(channel.pk) or {}
        total, valid = row.get("total") or 0, row.get("valid") or 0
        channels.append(
            {
                "channel": _channel_dict(channel),
                "valid": valid,
                "invalid": total - valid,
                "total": total,
                "valid_rate": _ratio(valid, total),
            }
        )
    total = sum(c["total"] for c in channels)
    valid = sum(c["valid"] for c in channels)
    return {
        "total": {"valid": valid, "invalid": total - valid, "total": total, "valid_rate": _ratio(valid, total)},
        "channels": channels,
    }


# --- CSV ----------------------------------------------------------------------------------------------------------


def _pct(value):
    return f"{value * 100:.1f}%"


def csv_rows(name, data):
    """Header + rows of one figure, for the CSV export of its card."""
    if name == "kpis":
        yield [pgettext("analytics", "指標"), pgettext("analytics", "數量"), pgettext("analytics", "佔全渠道顧客比例")]
        yield [str(METRIC_LABELS["omni_customers"]), data["omni_customers"], _pct(1.0 if data["omni_customers"] else 0)]
        yield [str(METRIC_LABELS["bound_customers"]), data["bound_customers"], _pct(data["bound_rate"])]
        yield [str(METRIC_LABELS["members"]), data["members"], _pct(data["member_rate"])]
        yield [str(METRIC_LABELS["bound_members"]), data["bound_members"], _pct(data["bound_member_rate"])]
    elif name == "overview":
        keys = ["total_contacts", "bound_valid_contacts", "new_contacts", "unsubscribes"]
        yield [
            pgettext("analytics", "期間"),
            pgettext("analytics", "開始日期"),
            pgettext("analytics", "結束日期"),
            pgettext("analytics", "渠道"),
            *[str(METRIC_LABELS[k]) for k in keys],
        ]
        for i, period in enumerate(data["periods"]):
            for series in data["series"]:
                yield [
                    period["label"],
                    period["start"].isoformat(),
                    period["end"].isoformat(),
                    series["channel"]["name"],
                    *[series[k][i] for k in keys],
                ]
    elif name in ("binding_sources", "contact_sources"):
        key = "methods" if name == "binding_sources" else "sources"
        yield [pgettext("analytics", "月份"), pgettext("analytics", "來源"), pgettext("analytics", "次數")]
        yield [data["month"], pgettext("analytics", "總數"), data["total"]]
        for row in data[key]:
            yield [data["month"], row["label"], row["count"]]
    elif name == "valid_contacts":
        yield [
            pgettext("analytics", "渠道"),
            pgettext("analytics", "有效聯絡人"),
            pgettext("analytics", "取消訂閱 / 封鎖"),
            pgettext("analytics", "總聯絡人數"),
            pgettext("analytics", "佔比"),
        ]
        for row in data["channels"]:
            yield [row["channel"]["name"], row["valid"], row["invalid"], row["total"], _pct(row["valid_rate"])]
        t = data["total"]
        yield [pgettext("analytics", "總數"), t["valid"], t["invalid"], t["total"], _pct(t["valid_rate"])]
    else:
        raise KeyError(name)


FIGURES = ("kpis", "overview", "binding_sources", "contact_sources", "valid_contacts")


def figure_data(team, name, params):
    """One figure's data from request-like params (a dict of strings / lists). Raises ValidationError."""
    if name == "kpis":
        return kpis(team)
    if name == "overview":
        query = clean_overview(
            team,
            start=params.get("start"),
            end=params.get("end"),
            unit=params.get("unit"),
            channels=params.get("channels"),
        )
        return contact_overview(team, query)
    if name == "binding_sources":
        return binding_sources(team, clean_month(team, params.get("month")))
    if name == "contact_sources":
        return contact_sources(team, clean_month(team, params.get("month")))
    if name == "valid_contacts":
        return valid_contacts(team)
    raise KeyError(name)
