"""Number formats every console page shares (a template builtin: no {% load %} needed)."""

from decimal import Decimal, InvalidOperation

from django import template

register = template.Library()


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
    """1234567 → '1,234,567'."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return value


@register.filter
def money(value, currency=""):
    """An amount with two decimals and its currency: Decimal('13.6000') → 'TWD 13.60'."""
    try:
        amount = Decimal(value)
    except (TypeError, ValueError, InvalidOperation):
        return "—"
    text = f"{amount.quantize(Decimal('0.01')):,}"
    return f"{currency} {text}" if currency else text
