# ruff: noqa: F811 - the fixtures imported from commerce.tests.conftest are parameters of the tests below
"""Issue 19 "Done when": both ways in, end to end, through the real webhook formats with signatures, the local
fake platforms and the fake Stripe server. Here (not in commerce/tests) because it also watches journeys, a layer
above commerce."""

import json
import time

import pytest

from cdp.models import Contact, CustomerEvent, EventType
from cdp.models import Order as CheckoutOrder
from commerce.models import Order, OrderTransition, Payment, PickupBranch
from commerce.services import orders, shop_settings
from commerce.tests.conftest import WA_PHONE_ID, _q_sync, line, platform, stripe, wa  # noqa: F401 (fixtures)
from commerce.tests.fake_stripe import SECRET_KEY, WEBHOOK_SECRET, post_webhook
from commerce.tests.helpers import dispatch, drain_inbound, drain_journeys, link_from, process_payments
from core.errors import ServiceError
from journeys.models import Enrollment
from journeys.tests.factories import delay, published_journey
from messaging.models import WebhookEvent
from messaging.tests.payloads import line_body, line_text, post_line, post_meta, wa_body, wa_change

pytestmark = pytest.mark.django_db

WA_USER = "85291234567"


def wa_message(message_id, **fields):
    message = {"from": WA_USER, "id": message_id, "timestamp": str(int(time.time())), **fields}
    contact = {"profile": {"name": "Amy"}, "wa_id": WA_USER}
    return wa_body(wa_change(WA_PHONE_ID, messages=[message], contacts=[contact]))


def post_wa(client, wa, body):
    return post_meta(client, wa, body, path="whatsapp")


def contact_by_webhook(client, channel):
    """The customer writes first (a signed platform webhook), as in a real chat."""
    if channel.kind == "line":
        assert (
            post_line(client, channel, line_body(line_text("我想買精華液", ts=int(time.time() * 1000)))).status_code
            == 200
        )
    else:
        body = wa_message("wamid.HELLO1", type="text", text={"body": "我想買精華液"})
        assert post_wa(client, channel, body).status_code == 200
    return Contact.objects.get(channel=channel)


def use_stripe(team):
    shop_settings.update_settings(
        team,
        payment_provider="stripe",
        provider_credentials={"secret_key": SECRET_KEY, "webhook_secret": WEBHOOK_SECRET},
    )


@pytest.mark.parametrize("kind", ["line", "whatsapp"])
def test_salesperson_order_link_confirm_pay_by_card_fires_the_journey(
    kind, client, team, owner, line, wa, platform, stripe
):
    channel = line if kind == "line" else wa
    use_stripe(team)
    journey = published_journey(
        team,
        channel,
        [delay(hours=1)],
        trigger_type="checkout_completed",
        trigger_config={"item_name_contains": "精華"},
    )
    contact = contact_by_webhook(client, channel)

    order = orders.create_order(
        team=team,
        contact=contact,
        items=[
            {"name": "保濕精華", "sku": "SER-1", "quantity": 2, "unit_price": "640"},
            {"name": "化妝棉", "quantity": 1, "unit_price": 80},
        ],
        delivery="shipping",
        shipping_address="台北市信義區松高路 1 號",
        payment_choice="card",
        created_by=owner,
    )
    assert order.status == "draft" and str(order.total) == "1360.00" and order.currency == team.currency
    orders.send_order(order, actor=owner)
    with pytest.raises(ServiceError):
        orders.send_order(Order.objects.get(pk=order.pk), actor=owner)  # sent once only
    assert dispatch() == 1
    assert dispatch() == 0
    sent = [r for r in platform.requests if r["method"] == "POST"]
    assert len(sent) == 1 and sent[0]["status"] == 200
    if kind == "line":
        flex = sent[0]["json"]["messages"][0]
        assert flex["type"] == "flex" and sent[0]["json"]["to"] == contact.external_id
    else:
        assert sent[0]["json"]["interactive"]["type"] == "cta_url" and sent[0]["json"]["to"] == WA_USER
    page = link_from(sent[0])

    # 待確認頁 → confirm with an email (必填 by default)
    response = client.get(page)
    assert response.status_code == 200 and "確認訂單" in response.text and "保濕精華" in response.text
    assert "1,360" in response.text  # the money filter: NT$1,360
    assert client.post(page + "confirm", {"email": ""}).status_code == 400  # email required: nothing changes
    assert Order.objects.get(pk=order.pk).status == "awaiting_confirmation"
    assert client.post(page + "confirm", {"email": "amy@example.com"}).status_code == 302
    response = client.get(page)
    assert "訂單預覽" in response.text and "amy@example.com" in response.text

    # 付款: a double click makes one checkout session and one payment
    first = client.post(page + "pay")
    second = client.post(page + "pay")
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] and first["Location"].startswith("https://checkout.stripe.com/")
    assert len(stripe.sessions) == 1 and Payment.objects.filter(order=order).count() == 1
    form = stripe.sessions_created()[0]["form"]
    assert form["customer_email"] == "amy@example.com" and form["line_items[0][price_data][unit_amount]"] == "64000"
    assert form["line_items[0][quantity]"] == "2" and form["client_reference_id"] == order.number

    # Stripe's signed webhook, redelivered: paid exactly once
    session_id = next(iter(stripe.sessions))
    event = stripe.completed_event(session_id)
    assert post_webhook(client, team, event, secret="whsec_wrong").status_code == 400
    for _ in range(3):
        assert post_webhook(client, team, event).status_code == 200
    assert (
        post_webhook(
            client, team, stripe.completed_event(session_id, kind="checkout.session.async_payment_succeeded")
        ).status_code
        == 200
    )
    process_payments()
    order.refresh_from_db()
    assert order.status == "paid" and order.paid_at is not None
    assert CheckoutOrder.objects.filter(team=team, order_id=order.number).count() == 1
    checkout = CheckoutOrder.objects.get(team=team, order_id=order.number)
    assert str(checkout.amount) == "1360.00" and checkout.items[0] == {
        "name": "保濕精華",
        "quantity": 2,
        "price": "640.00",
    }
    assert CustomerEvent.objects.filter(customer=contact.customer, type=EventType.CHECKOUT_COMPLETED).count() == 1
    contact.customer.refresh_from_db()
    assert contact.customer.last_checkout_at == order.paid_at
    assert [(t.from_status, t.to_status, t.actor) for t in OrderTransition.objects.filter(order=order)] == [
        ("draft", "awaiting_confirmation", owner.email),
        ("awaiting_confirmation", "awaiting_payment", "customer"),
        ("awaiting_payment", "paid", "stripe"),
    ]
    assert Payment.objects.get(order=order).status == "paid"

    # the journey's checkout trigger (item name) fires for this customer
    drain_journeys()
    assert list(Enrollment.objects.filter(journey=journey).values_list("customer_id", flat=True)) == [
        contact.customer_id
    ]
    assert "訂單明細" in client.get(page).text


def catalog_order(**overrides):
    order = {
        "catalog_id": "1234567890",
        "text": "請幫我準備",
        "product_items": [
            {"product_retailer_id": "SKU-TEA", "quantity": 2, "item_price": 450, "currency": "TWD"},
            {"product_retailer_id": "SKU-CUP", "quantity": "1", "item_price": "120.5", "currency": "TWD"},
        ],
    }
    order.update(overrides)
    return order


def test_whatsapp_catalog_order_paid_in_cash_at_store_pickup(client, team, owner, wa, platform):
    from commerce.models import CatalogProduct

    CatalogProduct.objects.create(
        team=team, retailer_id="SKU-TEA", name="東方美人茶", price=450, currency="TWD", source="catalog"
    )
    branch = PickupBranch.objects.create(team=team, name="信義店", address="台北市信義區")
    assert post_wa(client, wa, wa_message("wamid.ORDER1", type="order", order=catalog_order())).status_code == 200
    assert post_wa(client, wa, wa_message("wamid.ORDER1", type="order", order=catalog_order())).status_code == 200
    drain_inbound()
    order = Order.objects.get(team=team)
    assert (
        order.source == "catalog"
        and order.status == "awaiting_confirmation"
        and order.source_message_id == "wamid.ORDER1"
    )
    assert [(i.name, i.sku, i.quantity, str(i.unit_price)) for i in order.items.all()] == [
        ("東方美人茶", "SKU-TEA", 2, "450.00"),
        ("SKU-CUP", "SKU-CUP", 1, "120.50"),
    ]
    assert dispatch() == 1
    page = link_from(platform.requests[-1])
    response = client.get(page)
    assert "信義店" in response.text and "現金" in response.text and "支票" in response.text
    response = client.post(
        page + "confirm",
        {"delivery": "pickup", "pickup_branch": branch.pk, "payment_method": "cash", "email": "tea@example.com"},
    )
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == "awaiting_payment" and order.payment_method == "cash" and order.pickup_branch == branch
    preview = client.get(page)
    assert "商家確認收款" in preview.text
    assert client.post(page + "pay").status_code == 400  # offline: no online payment
    assert not Payment.objects.filter(order=order).exists()
    orders.mark_paid(order, actor=owner)
    order.refresh_from_db()
    assert order.status == "paid"
    payment = Payment.objects.get(order=order)
    assert payment.provider == "offline" and payment.method == "cash" and payment.recorded_by == owner.email
    assert CheckoutOrder.objects.get(team=team, order_id=order.number).amount == order.total
    orders.fulfil_order(order, actor=owner)
    assert Order.objects.get(pk=order.pk).status == "fulfilled"


@pytest.mark.parametrize(
    "bad",
    [
        {"product_items": []},
        {"product_items": [{"product_retailer_id": "A", "quantity": -1, "item_price": 1, "currency": "TWD"}]},
        {"product_items": [{"product_retailer_id": "", "quantity": 1, "item_price": 1, "currency": "TWD"}]},
        {"product_items": [{"product_retailer_id": "A", "quantity": 1, "item_price": "x", "currency": "TWD"}]},
        {"product_items": "nope"},
        {"catalog_id": None},
    ],
)
def test_a_malformed_catalog_order_is_acknowledged_and_rejected(client, team, wa, bad):
    response = post_wa(client, wa, wa_message("wamid.BAD", type="order", order=catalog_order(**bad)))
    assert response.status_code == 200
    event = WebhookEvent.objects.get(team=team)
    assert event.state == "rejected" and "malformed order" in event.error
    drain_inbound()
    assert not Order.objects.exists()


def test_a_catalog_order_in_another_currency_is_rejected_and_writes_nothing(client, team, wa):
    bad = [{"product_retailer_id": "A", "quantity": 1, "item_price": 10, "currency": "USD"}]
    assert (
        post_wa(client, wa, wa_message("wamid.USD", type="order", order=catalog_order(product_items=bad))).status_code
        == 200
    )
    drain_inbound()
    assert not Order.objects.exists()
    event = WebhookEvent.objects.get(team=team, dedup_key="wa:wamid.USD")
    assert event.state == "rejected" and "USD" in event.error


def test_stripe_webhook_with_an_old_timestamp_or_no_secret_is_refused(client, team, stripe):
    body = json.dumps({"id": "evt_1", "type": "checkout.session.completed", "data": {"object": {}}}).encode()
    assert post_webhook(client, team, body).status_code == 404  # Stripe not set up for this team
    use_stripe(team)
    assert post_webhook(client, team, body, timestamp=int(time.time()) - 3600).status_code == 400
    assert post_webhook(client, team, b"not json").status_code == 400
