"""Customer-level operations that are not identity: checkouts (points are in services.points)."""

from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import ServiceError
from core.params import parse_id

from ..events import record_events
from ..models import Customer, CustomerEvent, EventType, Order, PointsSource
from . import points


def clean_items(items):
    """Validate checkout items [{"name", "quantity", "price"}]; ValidationError keyed by "items"."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise ServiceError(_("items 必須是清單。"), field="items", code="invalid_items")
    out = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not str(item.get("name") or "").strip():
            raise ServiceError(_("第 %(i)s 項需要 name。") % {"i": index}, field="items", code="invalid_items")
        quantity = item.get("quantity", 1)
        if isinstance(quantity, float) and quantity.is_integer():
            quantity = int(quantity)
        quantity = parse_id(quantity)  # a whole number, 0 or more; 2.5 or "²" is not a quantity
        try:
            price = Decimal(str(item.get("price", 0)))
        except (TypeError, ValueError, InvalidOperation):
            price = None
        if quantity is None or price is None:
            raise ServiceError(
                _("第 %(i)s 項的 quantity / price 無效。") % {"i": index}, field="items", code="invalid_items"
            )
        if not price.is_finite() or price < 0:
            raise ServiceError(
                _("第 %(i)s 項的 quantity / price 不可為負。") % {"i": index}, field="items", code="invalid_items"
            )
        out.append({"name": str(item["name"]).strip()[:200], "quantity": quantity, "price": str(price)})
    return out


def record_checkout(*, customer, order_id, amount, currency, items=None, occurred_at=None, coupon_code=""):
    """A completed checkout: an Order row (order_id unique per team), last_checkout_at, a checkout_completed event
    (with the coupon code the order used, if any: coupons counts it as a redemption)."""
    occurred_at = occurred_at or timezone.now()
    order_id = str(order_id or "").strip()
    if not order_id or len(order_id) > 128:
        raise ServiceError(_("需要訂單編號（最多 128 字元）。"), field="order_id", code="invalid_order_id")
    try:
        amount = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        raise ServiceError(_("金額必須是數字：%(value)s") % {"value": amount}, field="amount", code="invalid_amount")
    if not amount.is_finite() or amount < 0 or amount >= Decimal("1e12"):
        raise ServiceError(_("金額超出範圍：%(value)s") % {"value": amount}, field="amount", code="invalid_amount")
    currency = str(currency or customer.team.currency).strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise ServiceError(_("幣別必須是 3 個英文字母（ISO 4217）。"), field="currency", code="invalid_currency")
    items = clean_items(items)
    try:
        with transaction.atomic():
            order = Order.objects.create(
                team_id=customer.team_id,
                customer=customer,
                order_id=order_id,
                amount=amount.quantize(Decimal("0.01")),
                currency=currency,
                items=items,
                occurred_at=occurred_at,
            )
    except IntegrityError:
        raise ServiceError(_("訂單編號已存在：%(id)s") % {"id": order_id}, field="order_id", code="duplicate_order_id")
    Customer.objects.filter(
        Q(last_checkout_at__isnull=True) | Q(last_checkout_at__lt=occurred_at), pk=customer.pk
    ).update(last_checkout_at=occurred_at)
    record_events(
        [
            CustomerEvent(
                team_id=customer.team_id,
                customer_id=customer.pk,
                type=EventType.CHECKOUT_COMPLETED,
                occurred_at=occurred_at,
                data={
                    "order_id": order_id,
                    "amount": str(order.amount),
                    "currency": currency,
                    "items": items,
                    **({"coupon_code": coupon_code} if coupon_code else {}),
                },
            )
        ]
    )
    _order_points(customer, order)
    return order


def _order_points(customer, order):
    """The team's order rule (訂單規則): points for a checkout in the team's currency, once per order id."""
    team = customer.team
    rule = team.points_per_order_amount
    if not rule or order.currency != team.currency:
        return
    earned = int(order.amount // rule)
    if earned > 0:
        points.adjust_points(
            customer=customer,
            delta=earned,
            reason=order.order_id,
            source=PointsSource.ORDER,
            idempotency_key=f"order:{order.order_id}",
            occurred_at=order.occurred_at,
        )
