"""Order operations: create (staff or WhatsApp catalog), send the order link, customer confirmation, payment,
fulfilment, cancellation. Every status change goes through transition(): the order row locked, the move checked
against statemachine.TRANSITIONS, an OrderTransition row written (who, when)."""

import secrets
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.templatetags.console import reason_label
from cdp.models import Contact
from cdp.services.customers import record_checkout
from core.errors import ServiceError
from core.params import parse_id
from messaging import policy
from messaging.services import outbox

from ..models import (
    CatalogProduct,
    Delivery,
    Order,
    OrderItem,
    OrderSource,
    OrderTransition,
    Payment,
    PaymentChoice,
    PaymentMethod,
    PaymentStatus,
    PickupBranch,
)
from ..statemachine import OrderStatus, target
from . import links, shop_settings

ORDER_CHANNEL_KINDS = ("line", "whatsapp")
MAX_ITEMS = 100
MAX_QUANTITY = 100_000
MAX_PRICE = Decimal("1e10")


# ------------------------------------------------------------------------------------------- validation
def clean_items(team, items):
    """[{"name", "sku"?, "quantity", "unit_price", "currency"?}] or {"product": id | "sku": sku from the catalog}.
    Returns [(name, sku, quantity, unit_price)]; ServiceError keyed "items" on the first bad one."""
    if not isinstance(items, list) or not items:
        raise ServiceError(_("訂單至少需要一個品項。"), field="items", code="no_items")
    if len(items) > MAX_ITEMS:
        raise ServiceError(_("一張訂單最多 %(n)s 個品項。") % {"n": MAX_ITEMS}, field="items", code="too_many_items")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ServiceError(_("第 %(i)s 項必須是物件。") % {"i": i + 1}, field="items", code="invalid_items")
        product = None
        if item.get("product") not in (None, ""):
            pk = parse_id(item.get("product"))
            product = CatalogProduct.objects.for_team(team).filter(pk=pk, is_active=True).first() if pk else None
            if product is None:
                raise ServiceError(
                    _("第 %(i)s 項：找不到目錄商品。") % {"i": i + 1}, field="items", code="unknown_product"
                )
        currency = str(item.get("currency") or (product.currency if product else "") or team.currency).upper()
        if currency != team.currency:
            raise ServiceError(
                _("第 %(i)s 項的幣別 %(c)s 與團隊幣別 %(t)s 不同。") % {"i": i + 1, "c": currency, "t": team.currency},
                field="items",
                code="currency_mismatch",
            )
        name = str(item.get("name") or (product.name if product else "")).strip()
        sku = str(item.get("sku") or item.get("retailer_id") or (product.retailer_id if product else "")).strip()
        if not name:
            raise ServiceError(_("第 %(i)s 項需要品名。") % {"i": i + 1}, field="items", code="invalid_items")
        quantity = item.get("quantity", 1)
        if isinstance(quantity, str) and quantity.strip().lstrip("-").isdigit():
            quantity = int(quantity.strip())
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
            raise ServiceError(
                _("第 %(i)s 項的數量必須是 1 到 %(n)s 的整數。") % {"i": i + 1, "n": MAX_QUANTITY},
                field="items",
                code="invalid_quantity",
            )
        raw_price = item.get("unit_price", item.get("price"))
        if raw_price in (None, "") and product is not None:
            raw_price = product.price
        try:
            price = Decimal(str(raw_price))
        except (InvalidOperation, ValueError, TypeError):
            price = None
        if price is None or not price.is_finite() or price < 0 or price >= MAX_PRICE or isinstance(raw_price, bool):
            raise ServiceError(_("第 %(i)s 項的單價無效。") % {"i": i + 1}, field="items", code="invalid_price")
        out.append((name[:200], sku[:100], quantity, price.quantize(Decimal("0.01"))))
    return out


def _clean_email(value):
    email = str(value or "").strip()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise ServiceError(_("Email 格式不正確。"), field="email", code="invalid_email") from None
    return email


def _clean_delivery(team, delivery, shipping_address, pickup_branch, *, required):
    delivery = str(delivery or "")
    if not delivery:
        if required:
            raise ServiceError(_("請選擇取貨方式。"), field="delivery", code="delivery_required")
        return "", "", None
    if delivery not in Delivery.values:
        raise ServiceError(_("不支援的取貨方式：%(d)s") % {"d": delivery}, field="delivery", code="invalid_delivery")
    if delivery == Delivery.SHIPPING:
        address = str(shipping_address or "").strip()
        if not address:
            raise ServiceError(_("宅配需要寄送地址。"), field="shipping_address", code="address_required")
        return delivery, address[:500], None
    branch = pickup_branch
    if not isinstance(branch, PickupBranch):
        pk = parse_id(pickup_branch)
        branch = PickupBranch.objects.for_team(team).filter(pk=pk, is_active=True).first() if pk else None
    if branch is None or branch.team_id != team.pk:
        raise ServiceError(_("請選擇取貨分店。"), field="pickup_branch", code="branch_required")
    return delivery, "", branch


def _clean_choice(row, channel, choice, delivery):
    """The salesperson's payment choice; returns (choice, method or "")."""
    choice = str(choice or "")
    if not choice:
        return "", ""
    if choice not in PaymentChoice.values:
        raise ServiceError(_("不支援的付款方式：%(c)s") % {"c": choice}, field="payment_choice", code="invalid_payment")
    if choice == PaymentChoice.CUSTOMER:
        return choice, ""
    if choice == PaymentChoice.PAY_AT_STORE:
        if delivery != Delivery.PICKUP:
            raise ServiceError(
                _("到店付款只能搭配分店取貨。"), field="payment_choice", code="pay_at_store_needs_pickup"
            )
        method = PaymentMethod.CASH  # seed 003: 分店取貨 + 到店付款 → 現金
    else:
        method = choice
    _check_method(row, channel, method, field="payment_choice")
    return choice, method


def _check_method(row, channel, method, *, field):
    if method not in dict(shop_settings.methods_for_channel(row, channel.kind)):
        if method != PaymentMethod.CARD and channel.kind != "whatsapp":
            message = _("線下付款目前僅支援 WhatsApp。")
            code = "offline_whatsapp_only"
        else:
            message = _("此渠道未開啟這個付款方式。")
            code = "payment_method_disabled"
        raise ServiceError(message, field=field, code=code)


def _number():
    return "CO" + timezone.now().strftime("%y%m%d") + "-" + secrets.token_hex(4).upper()


# --------------------------------------------------------------------------------------------- create
def create_order(
    *,
    team,
    contact,
    items,
    delivery="",
    shipping_address="",
    pickup_branch=None,
    payment_choice="",
    email="",
    note="",
    created_by=None,
    source=OrderSource.STAFF,
    source_message_id="",
    catalog_id="",
):
    """A draft order for a contact of the team on LINE or WhatsApp. Every check first: nothing is written on error."""
    if not isinstance(contact, Contact):
        pk = parse_id(contact)
        contact = Contact.objects.for_team(team).select_related("channel").filter(pk=pk).first() if pk else None
    if contact is None or contact.team_id != team.pk:
        raise ServiceError(_("找不到這位聯絡人。"), field="contact", code="unknown_contact")
    channel = contact.channel
    if channel.kind not in ORDER_CHANNEL_KINDS:
        raise ServiceError(_("對話下單僅支援 WhatsApp 與 LINE。"), field="contact", code="unsupported_channel")
    lines = clean_items(team, items)
    delivery, address, branch = _clean_delivery(team, delivery, shipping_address, pickup_branch, required=False)
    row = shop_settings.get_settings(team)
    choice, method = _clean_choice(row, channel, payment_choice, delivery)
    email = _clean_email(email)
    total = sum((price * quantity for _n, _s, quantity, price in lines), Decimal("0"))
    now = timezone.now()
    for attempt in range(3):
        try:
            with transaction.atomic():
                order = Order.objects.create(
                    team=team,
                    number=_number(),
                    source=source,
                    customer_id=contact.customer_id,
                    contact=contact,
                    channel=channel,
                    created_by=created_by,
                    currency=team.currency,
                    total=total,
                    delivery=delivery,
                    shipping_address=address,
                    pickup_branch=branch,
                    payment_choice=choice,
                    payment_method=method,
                    email=email,
                    note=str(note or "")[:500],
                    catalog_id=str(catalog_id or "")[:64],
                    source_message_id=str(source_message_id or "")[:128],
                    created_at=now,
                    updated_at=now,
                )
                OrderItem.objects.bulk_create(
                    [
                        OrderItem(team=team, order=order, name=n, sku=s, quantity=q, unit_price=p, position=i)
                        for i, (n, s, q, p) in enumerate(lines)
                    ]
                )
            return order
        except IntegrityError:
            if (
                source_message_id
                and Order.objects.filter(team=team, channel=channel, source_message_id=source_message_id).exists()
            ):
                raise ServiceError(
                    _("這則訂單訊息已建立過訂單。"), field="source_message_id", code="duplicate"
                ) from None
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


# ----------------------------------------------------------------------------------------- transitions
def transition(order, event, *, actor="", now=None, **fields):
    """Move the order by `event` (statemachine.TRANSITIONS), writing its OrderTransition. The row is locked, so
    two requests racing for the same move make one change; the loser gets ServiceError(code="invalid_transition").
    Returns the order with the new values."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        to_status = target(locked.status, event)
        if to_status is None:
            raise ServiceError(
                _("訂單目前為「%(s)s」，無法執行此操作。") % {"s": locked.get_status_display()},
                field="status",
                code="invalid_transition",
            )
        from_status = locked.status
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.status, locked.updated_at = to_status, now
        locked.save()
        OrderTransition.objects.create(
            team_id=locked.team_id,
            order=locked,
            from_status=from_status,
            to_status=to_status,
            event=event,
            actor=str(actor or "")[:200],
            at=now,
        )
    return locked


def _actor(user_or_name):
    if user_or_name is None:
        return ""
    if isinstance(user_or_name, str):
        return user_or_name
    return getattr(user_or_name, "email", "") or str(user_or_name)


def link_content(order):
    """The order link message, in the outbox's "link" content (WhatsApp cta_url, LINE flex bubble)."""
    team = order.team
    row = shop_settings.get_settings(team)
    logo = shop_settings.logo_file(team, row)
    url = links.order_url(order)
    lines = [f"{item.name} × {item.quantity}" for item in order.items.all()[:5]]
    text = _("訂單 %(n)s\n%(lines)s\n總計 %(c)s %(t)s") % {
        "n": order.number,
        "lines": "\n".join(lines),
        "c": order.currency,
        "t": f"{order.total:,.2f}".rstrip("0").rstrip("."),
    }
    content = {"type": "link", "title": team.name, "text": text, "label": _("查看訂單"), "url": url}
    if logo is not None:
        from django.urls import reverse

        content["image_url"] = links.public_base() + reverse("commerce-public:logo", args=[links.token_for(order)])
    return content


def create_and_send_order(*, actor=None, **fields):
    """create_order then send_order in one transaction: a link that cannot be sent leaves no draft behind."""
    with transaction.atomic():
        return send_order(create_order(**fields), actor=actor)


def send_order(order, *, actor=None):
    """Send the order link on the order's channel through the outbox (one row per order: sent exactly once) and
    move the order to awaiting confirmation."""
    if order.status != OrderStatus.DRAFT:
        raise ServiceError(_("只有草稿訂單可以發送。"), field="status", code="invalid_transition")
    content = link_content(order)
    _check_deliverable(order, content, timezone.now())
    with transaction.atomic():
        order = transition(order, "send", actor=_actor(actor), sent_at=timezone.now())
        outbox.enqueue(
            team=order.team,
            channel=order.channel,
            contact=order.contact,
            content=content,
            origin="agent",
            origin_id=f"order:{order.pk}",
            idempotency_key=f"commerce-order-link:{order.pk}",
        )
    return order


def _check_deliverable(order, content, now):
    """The order link is refused up front when the platform would refuse it (WhatsApp's 24-hour window since the
    customer's last message: outside it only an approved template may be sent), so no order waits on a link that
    never arrives. messaging.policy is the one rule; a service message ignores unsubscribes."""
    decision = policy.check_send(contact=order.contact, content=content, now=now, kind="service")
    if decision.action != "skip":
        return
    if decision.reason == "needs a template":
        raise ServiceError(
            _("顧客最後一則訊息已超過 24 小時，WhatsApp 只允許傳送已核准的範本；請等顧客再次傳訊息後再發送訂單。"),
            field="contact",
            code="outside_window",
        )
    raise ServiceError(
        _("無法傳送訊息給這位聯絡人（%(reason)s）。"),
        field="contact",
        code="contact_unreachable",
        params={"reason": reason_label(decision.reason)},  # the stored code in words
    )


def payer_email(order, row=None):
    """The email given to a payment provider: the customer's, else (email 選填) the team's default."""
    row = row or shop_settings.get_settings(order.team)
    return order.email or row.default_email


def confirm_order(order, *, delivery=None, shipping_address="", pickup_branch=None, payment_method="", email=""):
    """The customer's 待確認頁: delivery, payment method (when 由顧客選擇 or not chosen), email (必填 / 選填)."""
    team = order.team
    row = shop_settings.get_settings(team)
    if order.status != OrderStatus.AWAITING_CONFIRMATION:
        raise ServiceError(_("這張訂單已無法確認。"), field="status", code="invalid_transition")
    delivery = delivery if delivery is not None else order.delivery
    if order.delivery and order.source == OrderSource.STAFF:  # chosen by the salesperson: kept
        delivery, address, branch = order.delivery, order.shipping_address, order.pickup_branch
    else:
        delivery, address, branch = _clean_delivery(team, delivery, shipping_address, pickup_branch, required=True)
    choice, method = order.payment_choice, order.payment_method
    if choice == PaymentChoice.PAY_AT_STORE and delivery != Delivery.PICKUP:
        raise ServiceError(_("到店付款只能搭配分店取貨。"), field="payment_method", code="pay_at_store_needs_pickup")
    if not method:
        method = str(payment_method or "")
        if not method and delivery == Delivery.PICKUP and choice == PaymentChoice.PAY_AT_STORE:
            method = PaymentMethod.CASH
        if method not in PaymentMethod.values:
            raise ServiceError(_("請選擇付款方式。"), field="payment_method", code="payment_method_required")
        _check_method(row, order.channel, method, field="payment_method")
    email = _clean_email(email) or order.email
    if row.email_required and not email:
        raise ServiceError(_("請輸入 Email 才能付款。"), field="email", code="email_required")
    return transition(
        order,
        "confirm",
        actor="customer",
        delivery=delivery,
        shipping_address=address,
        pickup_branch=branch,
        payment_method=method,
        email=email,
    )


def mark_paid(order, *, actor=None, payment=None, now=None):
    """Awaiting payment → paid, once: the payment row (offline: made here) and the checkout.completed fact that
    the events API records (cdp.services.customers.record_checkout), in one transaction."""
    now = now or timezone.now()
    with transaction.atomic():
        order = transition(order, "mark_paid" if payment is None else "pay", actor=_actor(actor), paid_at=now, now=now)
        if payment is None:
            if not order.is_offline:
                raise ServiceError(_("線上付款由金流通知完成，無法手動標記。"), field="status", code="online_payment")
            Payment.objects.filter(order=order, status=PaymentStatus.PENDING).update(status=PaymentStatus.FAILED)
            Payment.objects.create(
                team_id=order.team_id,
                order=order,
                provider="offline",
                method=order.payment_method,
                status=PaymentStatus.PAID,
                amount=order.total,
                currency=order.currency,
                email=order.email,
                paid_at=now,
                recorded_by=_actor(actor)[:200],
            )
        else:
            Payment.objects.filter(pk=payment.pk).update(status=PaymentStatus.PAID, paid_at=now)
        record_order_checkout(order, now)
    return order


def record_order_checkout(order, occurred_at):
    contact = Contact.objects.only("customer_id").get(pk=order.contact_id)  # merges move contacts: the survivor
    customer = contact.customer
    items = [{"name": i.name, "quantity": i.quantity, "price": str(i.unit_price)} for i in order.items.all()]
    return record_checkout(
        customer=customer,
        order_id=order.number,
        amount=order.total,
        currency=order.currency,
        items=items,
        occurred_at=occurred_at,
    )


def cancel_order(order, *, actor=None):
    with transaction.atomic():
        order = transition(order, "cancel", actor=_actor(actor))
        Payment.objects.filter(order=order, status=PaymentStatus.PENDING).update(status=PaymentStatus.FAILED)
    return order


def fulfil_order(order, *, actor=None):
    return transition(order, "fulfil", actor=_actor(actor))
