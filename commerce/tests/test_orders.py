"""Orders: each payment method, each email setting, the sandbox provider, the pickup defaults and bad input."""

import time
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from cdp.models import Order as CheckoutOrder
from cdp.tests.factories import ChannelFactory, ContactFactory
from commerce.models import Order, OrderTransition, Payment, PickupBranch
from commerce.services import links, orders, payments, shop_settings
from core.errors import ServiceError

from .fake_stripe import SECRET_KEY, WEBHOOK_SECRET
from .helpers import dispatch, link_from

pytestmark = pytest.mark.django_db

ITEMS = [{"name": "禮盒", "quantity": 1, "unit_price": "500"}]


@pytest.fixture
def wa_contact(wa):
    return ContactFactory(channel=wa, external_id="+85291230000", last_customer_interaction_at=timezone.now())


@pytest.fixture
def line_contact(line):
    return ContactFactory(channel=line, external_id="U0000000000000000000000000000001")


@pytest.fixture
def branch(team):
    return PickupBranch.objects.create(team=team, name="中山店")


def sent_order(team, contact, platform, **fields):
    order = orders.create_order(team=team, contact=contact, items=ITEMS, **fields)
    orders.send_order(order, actor="staff@example.com")
    assert dispatch() == 1
    return Order.objects.get(pk=order.pk), link_from(platform.requests[-1])


@pytest.mark.parametrize("method", ["cash", "cheque", "bank"])
def test_each_offline_method_chosen_by_the_customer_on_whatsapp_is_marked_paid_by_staff(
    client, team, wa_contact, platform, method
):
    shop_settings.update_settings(team, payment_methods={method: {"name": f"自訂{method}"}})
    order, page = sent_order(
        team, wa_contact, platform, payment_choice="customer", delivery="shipping", shipping_address="香港中環"
    )
    assert f"自訂{method}" in client.get(page).text  # the custom display name
    assert client.post(page + "confirm", {"payment_method": method, "email": "a@example.com"}).status_code == 302
    order.refresh_from_db()
    assert order.payment_method == method and order.status == "awaiting_payment"
    orders.mark_paid(order, actor="staff@example.com")
    assert Order.objects.get(pk=order.pk).status == "paid"
    assert Payment.objects.get(order=order).method == method
    assert CheckoutOrder.objects.filter(order_id=order.number).exists()


def test_card_through_the_sandbox_provider_pay_and_fail(client, team, line_contact, platform):
    order, page = sent_order(
        team, line_contact, platform, payment_choice="card", delivery="shipping", shipping_address="台北"
    )
    client.post(page + "confirm", {"email": "a@example.com"})
    response = client.post(page + "pay")
    assert response.status_code == 302 and "/order-sandbox-pay/" in response["Location"]
    sandbox_page = response["Location"].replace("https://shop.example.com", "")
    assert "沙盒付款" in client.get(sandbox_page).text
    client.post(sandbox_page, {"result": "failed"})
    order.refresh_from_db()
    assert order.status == "awaiting_payment" and Payment.objects.get(order=order).status == "failed"
    again = client.post(page + "pay")  # a new attempt after a failure
    assert again["Location"] != response["Location"]
    client.post(again["Location"].replace("https://shop.example.com", ""), {"result": "paid"})
    client.post(again["Location"].replace("https://shop.example.com", ""), {"result": "paid"})  # pressed twice
    order.refresh_from_db()
    assert order.status == "paid" and CheckoutOrder.objects.filter(order_id=order.number).count() == 1
    with pytest.raises(ServiceError):
        orders.mark_paid(order, actor="staff")  # paid already


def test_offline_methods_are_whatsapp_only(team, line_contact, wa_contact, branch):
    for choice in ("cash", "cheque", "bank", "pay_at_store"):
        with pytest.raises(ServiceError) as error:
            orders.create_order(
                team=team,
                contact=line_contact,
                items=ITEMS,
                payment_choice=choice,
                delivery="pickup",
                pickup_branch=branch,
            )
        assert error.value.code == "offline_whatsapp_only"
    shop_settings.update_settings(team, payment_methods={"cheque": {"whatsapp": False}})
    with pytest.raises(ServiceError) as error:
        orders.create_order(team=team, contact=wa_contact, items=ITEMS, payment_choice="cheque")
    assert error.value.code == "payment_method_disabled"
    with pytest.raises(ServiceError) as error:
        shop_settings.update_settings(team, payment_methods={"cash": {"line": True}})
    assert error.value.code == "offline_whatsapp_only"
    assert not Order.objects.exists()


def test_pickup_and_pay_at_store_defaults_to_cash(team, wa_contact, branch):
    order = orders.create_order(
        team=team,
        contact=wa_contact,
        items=ITEMS,
        delivery="pickup",
        pickup_branch=branch,
        payment_choice="pay_at_store",
    )
    assert order.payment_method == "cash"
    with pytest.raises(ServiceError) as error:
        orders.create_order(
            team=team,
            contact=wa_contact,
            items=ITEMS,
            delivery="shipping",
            shipping_address="x",
            payment_choice="pay_at_store",
        )
    assert error.value.code == "pay_at_store_needs_pickup"


def test_email_optional_needs_a_default_which_the_customer_never_sees(
    client, team, line_contact, platform, stripe, settings
):
    with pytest.raises(ServiceError) as error:
        shop_settings.update_settings(team, email_required=False)
    assert error.value.code == "default_email_required"
    shop_settings.update_settings(
        team,
        email_required=False,
        default_email="orders@shop.example.com",
        payment_provider="stripe",
        provider_credentials={"secret_key": SECRET_KEY, "webhook_secret": WEBHOOK_SECRET},
    )
    order, page = sent_order(
        team, line_contact, platform, payment_choice="card", delivery="shipping", shipping_address="台北"
    )
    response = client.get(page)
    assert "選填" in response.text and "orders@shop.example.com" not in response.text
    assert client.post(page + "confirm", {"email": ""}).status_code == 302
    order.refresh_from_db()
    assert order.email == "" and "orders@shop.example.com" not in client.get(page).text
    client.post(page + "pay")
    assert stripe.sessions_created()[-1]["form"]["customer_email"] == "orders@shop.example.com"


def test_email_optional_but_given_is_used(client, team, line_contact, platform):
    shop_settings.update_settings(team, email_required=False, default_email="orders@shop.example.com")
    order, page = sent_order(
        team, line_contact, platform, payment_choice="card", delivery="shipping", shipping_address="台北"
    )
    client.post(page + "confirm", {"email": "me@example.com"})
    order.refresh_from_db()
    assert order.email == "me@example.com" and orders.payer_email(order) == "me@example.com"


def test_email_required_by_default(client, team, line_contact, platform):
    order, page = sent_order(
        team, line_contact, platform, payment_choice="card", delivery="shipping", shipping_address="台北"
    )
    response = client.post(page + "confirm", {"email": ""})
    assert response.status_code == 400 and "請輸入 Email" in response.text
    response = client.post(page + "confirm", {"email": "not-an-email"})
    assert response.status_code == 400
    assert Order.objects.get(pk=order.pk).status == "awaiting_confirmation"
    assert not OrderTransition.objects.filter(order=order, event="confirm").exists()


@pytest.mark.parametrize(
    ("items", "code"),
    [
        ([], "no_items"),
        ("x", "no_items"),
        ([{"name": "A", "quantity": -1, "unit_price": 1}], "invalid_quantity"),
        ([{"name": "A", "quantity": 0, "unit_price": 1}], "invalid_quantity"),
        ([{"name": "A", "quantity": 1.5, "unit_price": 1}], "invalid_quantity"),
        ([{"name": "A", "quantity": 1, "unit_price": -1}], "invalid_price"),
        ([{"name": "A", "quantity": 1, "unit_price": "NaN"}], "invalid_price"),
        ([{"name": "A", "quantity": 1, "unit_price": 1, "currency": "USD"}], "currency_mismatch"),
        ([{"name": "", "quantity": 1, "unit_price": 1}], "invalid_items"),
        ([{"product": 999999, "quantity": 1}], "unknown_product"),
    ],
)
def test_bad_items_write_nothing(team, wa_contact, items, code):
    with pytest.raises(ServiceError) as error:
        orders.create_order(team=team, contact=wa_contact, items=items)
    assert error.value.code == code
    assert not Order.objects.exists()


def test_another_teams_contact_and_unsupported_channels(team, other_team):
    foreign = ContactFactory(channel=ChannelFactory(team=other_team, kind="line"))
    with pytest.raises(ServiceError) as error:
        orders.create_order(team=team, contact=foreign, items=ITEMS)
    assert error.value.code == "unknown_contact"
    messenger = ContactFactory(channel=ChannelFactory(team=team, kind="facebook"))
    with pytest.raises(ServiceError) as error:
        orders.create_order(team=team, contact=messenger, items=ITEMS)
    assert error.value.code == "unsupported_channel"


def test_expired_and_tampered_links_are_clear_pages(client, team, wa_contact):
    order = orders.create_order(team=team, contact=wa_contact, items=ITEMS)
    orders.send_order(order)
    with mock.patch("django.core.signing.time.time", return_value=time.time() - 8 * 86400):
        old = links.token_for(order)
    response = client.get(f"/order/{old}/")
    assert response.status_code == 410 and "已過期" in response.text
    assert client.post(f"/order/{old}/confirm", {"email": "a@example.com"}).status_code == 410
    token = links.token_for(order)
    assert client.get(f"/order/{token[:-2]}xx/").status_code == 404
    assert Order.objects.get(pk=order.pk).status == "awaiting_confirmation"


def test_state_machine_refuses_moves_out_of_order(team, wa_contact):
    order = orders.create_order(team=team, contact=wa_contact, items=ITEMS, payment_choice="cash")
    with pytest.raises(ServiceError):
        orders.mark_paid(order)
    with pytest.raises(ServiceError):
        orders.fulfil_order(order)
    orders.cancel_order(order, actor="boss@example.com")
    with pytest.raises(ServiceError):
        orders.cancel_order(Order.objects.get(pk=order.pk))
    (transition,) = OrderTransition.objects.filter(order=order)
    assert (transition.from_status, transition.to_status, transition.actor) == (
        "draft",
        "cancelled",
        "boss@example.com",
    )


def test_double_pay_with_a_provider_error_writes_no_payment(client, team, line_contact, platform, settings, stripe):
    shop_settings.update_settings(
        team,
        payment_provider="stripe",
        provider_credentials={"secret_key": "sk_wrong", "webhook_secret": WEBHOOK_SECRET},
    )
    order, page = sent_order(
        team, line_contact, platform, payment_choice="card", delivery="shipping", shipping_address="台北"
    )
    client.post(page + "confirm", {"email": "a@example.com"})
    response = client.post(page + "pay")
    assert response.status_code == 400 and not Payment.objects.filter(order=order).exists()
    with pytest.raises(ServiceError):
        payments.start_payment(order)


def test_the_order_link_is_refused_outside_whatsapps_24_hour_window_and_line_has_no_window(team, wa, line_contact):
    """WhatsApp accepts a non-template message only within 24 hours of the customer's last one: the link is refused
    up front (the order stays a draft, nothing queued); a LINE push has no window."""
    from messaging.models import OutboundMessage

    quiet = ContactFactory(
        channel=wa, external_id="+85291230077", last_customer_interaction_at=timezone.now() - timedelta(hours=25)
    )
    order = orders.create_order(team=team, contact=quiet, items=ITEMS)
    with pytest.raises(ServiceError) as refused:
        orders.send_order(order)
    assert refused.value.code == "outside_window" and "24" in str(refused.value.messages[0])
    assert Order.objects.get(pk=order.pk).status == "draft"
    assert not OutboundMessage.objects.filter(contact=quiet).exists()

    quiet.last_customer_interaction_at = timezone.now() - timedelta(hours=23)
    quiet.save(update_fields=["last_customer_interaction_at"])
    assert orders.send_order(Order.objects.get(pk=order.pk)).status == "awaiting_confirmation"

    line_order = orders.create_order(team=team, contact=line_contact, items=ITEMS)
    assert line_contact.last_customer_interaction_at is None
    assert orders.send_order(line_order).status == "awaiting_confirmation"


def test_the_api_says_why_an_order_link_cannot_be_sent(team, wa):
    from tests.factories import api_client_for

    quiet = ContactFactory(channel=wa, external_id="+85291230078")
    order = orders.create_order(team=team, contact=quiet, items=ITEMS)
    response = api_client_for(team).post(f"/api/v1/orders/{order.pk}/send")
    assert response.status_code == 400
    assert "outside_window" in response.text and Order.objects.get(pk=order.pk).status == "draft"

    # created and sent in one call: the refused link leaves no draft behind
    body = {"contact": quiet.pk, "items": ITEMS, "send": True}
    response = api_client_for(team).post("/api/v1/orders", body, format="json")
    assert response.status_code == 400 and "outside_window" in response.text
    assert Order.objects.filter(team=team).count() == 1


def test_default_method_names_follow_the_readers_language_and_custom_names_are_kept(team):
    from django.utils import translation

    row = shop_settings.get_settings(team)
    row.payment_methods = {"card": {"name": "信用卡（線上）"}}  # a row saved when the zh default was stored
    row.save()
    with translation.override("en"):
        assert shop_settings.methods(row)["card"]["name"] == "Credit card (online)"
    with translation.override("zh-hant"):
        assert shop_settings.methods(row)["card"]["name"] == "信用卡（線上）"
    with translation.override("en"):  # saving the form unchanged in English keeps the default, not English text
        row = shop_settings.update_settings(team, payment_methods={"card": {"name": "Credit card (online)"}})
    assert row.payment_methods["card"]["name"] == ""
    row = shop_settings.update_settings(team, payment_methods={"cash": {"name": "門市現金"}})
    with translation.override("en"):
        assert shop_settings.methods(row)["cash"]["name"] == "門市現金"  # the team's own words stay as written


def test_words_shared_with_other_apps_keep_their_own_english():
    """已完成 is an order's "Fulfilled" but a journey's "Completed": the order status carries its own context."""
    from django.utils import translation

    from commerce.statemachine import OrderStatus

    with translation.override("en"):
        assert str(OrderStatus.FULFILLED.label) == "Fulfilled"
        assert translation.gettext("已完成") != "Fulfilled"  # the plain word is left to the other apps


def test_a_contact_that_blocked_the_account_is_refused_in_words(team, line):
    blocked = ContactFactory(channel=line, external_id="U00000000000000000000000000000b1", status="blocked")
    order = orders.create_order(team=team, contact=blocked, items=ITEMS)
    with pytest.raises(ServiceError) as refused:
        orders.send_order(order)
    assert refused.value.code == "contact_unreachable" and "已封鎖官方帳號" in refused.value.messages[0]
    assert "blocked" not in refused.value.messages[0]
