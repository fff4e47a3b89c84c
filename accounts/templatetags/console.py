"""Number formats every console page shares (a template builtin: no {% load %} needed). One set (issue 20.13):
thousands separators in both languages (Django's intcomma groups nothing in zh-Hant), money with its currency
("NT$62,927"), per-message costs as the seed writes them ("NT$0.2", "HKD 0.5"), rates as %, ROAS as ×."""

from decimal import Decimal, InvalidOperation

from django import template
from django.utils.translation import get_language, gettext_lazy

from core.i18n import translate_stored

register = template.Library()

# Currencies shown by their usual sign; any other is shown by its code and a space ("HKD 0.5").
CURRENCY_SIGNS = {"TWD": "NT$", "USD": "US$"}


def _decimal(value):
    try:
        return Decimal(str(value)) if not isinstance(value, Decimal) else value
    except (TypeError, ValueError, InvalidOperation):
        return None


def _with_currency(text, currency):
    if not currency:
        return text
    sign = CURRENCY_SIGNS.get(currency)
    return f"{sign}{text}" if sign else f"{currency} {text}"


# Stored reason codes (outbox failures, skipped recipients) in words (issue 20.14); an unknown code is shown as is.
REASON_LABELS = {
    "not_subscribed": gettext_lazy("未訂閱或已取消訂閱"),
    "unsubscribed": gettext_lazy("已取消訂閱"),
    "needs a template": gettext_lazy("需使用 WhatsApp 訊息範本"),
    "outside 24-hour window": gettext_lazy("超過 24 小時客服時段"),
    "blocked": gettext_lazy("已封鎖官方帳號"),
    "over_quota": gettext_lazy("超出名單配額"),
    "policy": gettext_lazy("發送規則不允許"),
    "budget_exhausted": gettext_lazy("渠道訊息額度已用完"),
    "channel_disabled": gettext_lazy("渠道已停用"),
    "do_not_disturb": gettext_lazy("勿擾時段"),
    "outside_window": gettext_lazy("超過 24 小時客服時段"),
}


@register.filter
def reason_label(code):
    """A stored reason code in the reader's language: 'budget_exhausted' → '渠道訊息額度已用完'."""
    return REASON_LABELS.get(code, code)


@register.filter
def stored_text(text):
    """A message stored in the source language (an import's row error) in the reader's language."""
    return translate_stored(text)


@register.filter
def paren(value):
    """Text in brackets in the reader's punctuation: '（x）' in zh-Hant, ' (x)' in English (issue 20.14)."""
    if get_language().startswith("zh"):
        return f"（{value}）"
    return f" ({value})"


@register.simple_tag
def colon():
    """The colon after a label in the reader's punctuation: '：' in zh-Hant, ': ' in English (issue 20.14)."""
    return "：" if get_language().startswith("zh") else ": "


@register.filter
def pct(value):
    """A ratio as a percentage: 0.7143 → '71.4%'; no value → '—'."""
    if value in (None, ""):
        return "—"
    try:
        return f"{float(value) * 100:.1f}%"
    except (TypeError, ValueError):
        return "—"


@register.filter
def thousands(value):
    """1234567 → '1,234,567'; 1234.5 → '1,234.5' (both languages); not a number → as it is."""
    number = _decimal(value)
    if number is None or not number.is_finite():
        return value
    if number == number.to_integral_value():
        return f"{int(number):,}"
    return f"{number.normalize():,f}"


@register.filter
def money(value, currency=""):
    """An amount with its currency: 62927 → 'NT$62,927', 13.6 → 'NT$13.60', HKD 300 → 'HKD 300'; none → '—'."""
    amount = _decimal(value)
    if amount is None or not amount.is_finite():
        return "—"
    amount = amount.quantize(Decimal("0.01"))
    sign, amount = ("-" if amount < 0 else ""), abs(amount)
    text = f"{int(amount):,}" if amount == amount.to_integral_value() else f"{amount:,}"
    return sign + _with_currency(text, currency)


@register.filter
def unit_cost(value, currency=""):
    """A per-message price as the seed writes it: Decimal('0.2000') → 'NT$0.2', 'HKD 0.5'; none → '—'."""
    amount = _decimal(value)
    if amount is None or not amount.is_finite():
        return "—"
    text = f"{amount.normalize():f}" if amount != amount.to_integral_value() else f"{int(amount):,}"
    return _with_currency(text, currency)


@register.filter
def multiple(value):
    """ROAS as a multiple: 3.456 → '3.46×'; none → '—'."""
    number = _decimal(value)
    if number is None or not number.is_finite():
        return "—"
    return f"{number.quantize(Decimal('0.01')).normalize():,f}×"
