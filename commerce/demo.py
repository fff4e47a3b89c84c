"""seed_demo hook: the demo team's pickup branches, catalog products and Chat to Order orders in every status
(made through the services, so every transition and every paid order's checkout fact is real)."""

from cdp.models import Contact

from .models import CatalogProduct, Order, OrderItem, OrderTransition, Payment, PaymentEvent, PickupBranch
from .services import orders, payments, shop_settings
from .statemachine import OrderStatus

PRODUCTS = [
    ("SER-01", "保濕精華液 30ml", 1280),
    ("CRM-02", "修護晚霜 50ml", 1680),
    ("MSK-03", "玻尿酸面膜 5 入", 450),
    ("GFT-04", "週年慶禮盒", 2980),
    ("CLN-05", "溫和潔顏乳", 520),
]
BRANCHES = [("信義旗艦店", "台北市信義區松高路 11 號"), ("中山店", "台北市中山區南京西路 15 號")]
# (status, channel kind, delivery, payment choice)
PLAN = [
    (OrderStatus.DRAFT, "line", "shipping", "card"),
    (OrderStatus.AWAITING_CONFIRMATION, "whatsapp", "", "customer"),
    (OrderStatus.AWAITING_CONFIRMATION, "line", "shipping", "card"),
    (OrderStatus.AWAITING_PAYMENT, "whatsapp", "pickup", "pay_at_store"),
    (OrderStatus.AWAITING_PAYMENT, "line", "shipping", "card"),
    (OrderStatus.PAID, "line", "shipping", "card"),
    (OrderStatus.PAID, "whatsapp", "shipping", "bank"),
    (OrderStatus.FULFILLED, "whatsapp", "pickup", "cash"),
    (OrderStatus.CANCELLED, "line", "shipping", "card"),
]


def seed(team, rng, *, now):
    for model in (PaymentEvent, Payment, OrderTransition, OrderItem):
        model.objects.filter(team=team).delete()
    Order.objects.filter(team=team).delete()
    CatalogProduct.objects.filter(team=team).delete()
    PickupBranch.objects.filter(team=team).delete()
    shop_settings.get_settings(team)
    products = [
        CatalogProduct.objects.create(
            team=team, retailer_id=sku, name=name, price=price, currency=team.currency, source="manual"
        )
        for sku, name, price in PRODUCTS
    ]
    branches = [PickupBranch.objects.create(team=team, name=n, address=a) for n, a in BRANCHES]
    contacts = {
        kind: list(Contact.objects.for_team(team).filter(channel__kind=kind, channel__status="active")[:20])
        for kind in ("line", "whatsapp")
    }
    made = 0
    for i, (status, kind, delivery, choice) in enumerate(PLAN):
        if not contacts[kind]:
            continue
        contact = rng.choice(contacts[kind])
        picked = rng.sample(products, 2)
        order = orders.create_order(
            team=team,
            contact=contact,
            items=[{"product": p.pk, "quantity": rng.randint(1, 3)} for p in picked],
            delivery=delivery,
            shipping_address="台北市大安區忠孝東路四段 1 號" if delivery == "shipping" else "",
            pickup_branch=branches[i % 2] if delivery == "pickup" else None,
            payment_choice=choice,
            note="demo",
        )
        made += 1
        if status == OrderStatus.DRAFT:
            continue
        if status == OrderStatus.CANCELLED:
            orders.cancel_order(order, actor="demo@example.com")
            continue
        order = orders.transition(order, "send", actor="demo@example.com", sent_at=now)  # no message: demo data
        if status == OrderStatus.AWAITING_CONFIRMATION:
            continue
        order = orders.confirm_order(
            order,
            delivery=delivery or "pickup",
            pickup_branch=branches[0],
            payment_method="cash" if choice == "customer" else "",
            email=f"demo{i}@example.com",
        )
        if status == OrderStatus.AWAITING_PAYMENT:
            continue
        if order.payment_method == "card":
            payment = payments.start_payment(order)
            payments.sandbox_result(payment, "paid")
            order.refresh_from_db()
        else:
            order = orders.mark_paid(order, actor="demo@example.com")
        if status == OrderStatus.FULFILLED:
            orders.fulfil_order(order, actor="demo@example.com")
    return made
