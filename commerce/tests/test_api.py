"""The API: /api/v1/orders (+ send, mark-paid, cancel), /api/v1/catalog/products, /api/v1/commerce/settings."""

import pytest
from django.utils import timezone

from cdp.models import Order as CheckoutOrder
from cdp.tests.factories import ContactFactory
from commerce.models import CatalogProduct, Order, PickupBranch

from .helpers import dispatch

pytestmark = pytest.mark.django_db


@pytest.fixture
def contact(wa):
    return ContactFactory(channel=wa, external_id="+85291230001", last_customer_interaction_at=timezone.now())


def test_create_send_mark_paid_and_filter(api, team, contact, platform):
    branch = PickupBranch.objects.create(team=team, name="旺角店")
    product = CatalogProduct.objects.create(
        team=team, retailer_id="P1", name="茶包", price=90, currency="TWD", source="manual"
    )
    body = {
        "contact": contact.pk,
        "items": [{"product": product.pk, "quantity": 3}, {"name": "提袋", "quantity": 1, "unit_price": "10"}],
        "delivery": "pickup",
        "pickup_branch": branch.pk,
        "payment_choice": "pay_at_store",
    }
    response = api.post("/api/v1/orders", body, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["status"] == "draft" and data["total"] == "280.00" and data["payment_method"] == "cash"
    assert data["items"][0] == {
        "name": "茶包",
        "sku": "P1",
        "quantity": 3,
        "unit_price": "90.00",
        "line_total": "270.00",
    }
    order_id = data["id"]
    sent = api.post(f"/api/v1/orders/{order_id}/send")
    assert sent.status_code == 200 and sent.json()["status"] == "awaiting_confirmation" and sent.json()["link"]
    assert api.post(f"/api/v1/orders/{order_id}/send").json()["error"]["code"] == "invalid_transition"
    assert dispatch() == 1
    assert api.post(f"/api/v1/orders/{order_id}/mark-paid").status_code == 400  # not confirmed yet
    order = Order.objects.get(pk=order_id)
    from commerce.services import orders

    orders.confirm_order(order, email="c@example.com")
    paid = api.post(f"/api/v1/orders/{order_id}/mark-paid")
    assert paid.status_code == 200 and paid.json()["status"] == "paid"
    assert [t["to"] for t in paid.json()["transitions"]] == ["awaiting_confirmation", "awaiting_payment", "paid"]
    assert paid.json()["transitions"][-1]["actor"].startswith("api:")
    assert CheckoutOrder.objects.filter(team=team, order_id=paid.json()["number"]).exists()
    assert api.post(f"/api/v1/orders/{order_id}/cancel").status_code == 400
    assert [o["id"] for o in api.get("/api/v1/orders?status=paid").json()["results"]] == [order_id]
    assert api.get("/api/v1/orders?status=draft").json()["results"] == []


@pytest.mark.parametrize(
    ("items", "code"),
    [
        ([], "no_items"),
        ([{"name": "A", "quantity": -2, "unit_price": "1"}], "invalid_quantity"),
        ([{"name": "A", "quantity": 1, "unit_price": "1", "currency": "USD"}], "currency_mismatch"),
    ],
)
def test_bad_orders_are_400_and_write_nothing(api, contact, items, code):
    response = api.post("/api/v1/orders", {"contact": contact.pk, "items": items}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] in (code, "invalid")
    assert not Order.objects.exists()


def test_another_teams_order_and_contact(api, other_api, contact, team):
    created = api.post(
        "/api/v1/orders",
        {"contact": contact.pk, "items": [{"name": "A", "quantity": 1, "unit_price": 1}]},
        format="json",
    ).json()
    assert other_api.get(f"/api/v1/orders/{created['id']}").status_code == 404
    for verb in ("send", "mark-paid", "cancel"):
        assert other_api.post(f"/api/v1/orders/{created['id']}/{verb}").status_code == 404
    response = other_api.post(
        "/api/v1/orders", {"contact": contact.pk, "items": [{"name": "A", "quantity": 1}]}, format="json"
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "unknown_contact"
    assert api.post(f"/api/v1/orders/{created['id']}/cancel").json()["status"] == "cancelled"


def test_catalog_products_and_sync(api, team, wa, platform):
    created = api.post(
        "/api/v1/catalog/products", {"retailer_id": "M1", "name": "手作皂", "price": "180"}, format="json"
    )
    assert created.status_code == 201 and created.json()["currency"] == "TWD" and created.json()["source"] == "manual"
    duplicate = api.post("/api/v1/catalog/products", {"retailer_id": "M1", "name": "x", "price": "1"}, format="json")
    assert duplicate.status_code == 400 and duplicate.json()["error"]["code"] == "duplicate_retailer_id"
    assert api.post("/api/v1/catalog/products/sync").json()["error"]["code"] == "no_catalog"
    api.patch("/api/v1/commerce/settings", {"catalog_id": "998877"}, format="json")
    pages = {
        "first": {
            "data": [
                {
                    "id": "1",
                    "retailer_id": "M1",
                    "name": "手作皂（新）",
                    "price": "NT$200.00",
                    "currency": "TWD",
                    "availability": "in stock",
                },
                {
                    "id": "2",
                    "retailer_id": "M2",
                    "name": "精油",
                    "price": "NT$1,280.00",
                    "currency": "TWD",
                    "availability": "in stock",
                },
            ],
            "paging": {"next": platform.url + "/v21.0/998877/products?after=X"},
        },
        "second": {"data": [{"id": "3", "retailer_id": "U1", "name": "美金品", "price": "$5", "currency": "USD"}]},
    }
    platform.route(
        "GET", "/v21.0/998877/products", lambda r: (200, pages["second" if "after=X" in r["query"] else "first"], {})
    )
    result = api.post("/api/v1/catalog/products/sync")
    assert result.json() == {"created": 1, "updated": 1}
    assert platform.requests[-1]["headers"]["authorization"] == "Bearer WAT"
    names = dict(CatalogProduct.objects.filter(team=team).values_list("retailer_id", "name"))
    assert names == {"M1": "手作皂（新）", "M2": "精油"}
    assert str(CatalogProduct.objects.get(retailer_id="M2").price) == "1280.00"


def test_settings_get_and_patch(api, team):
    data = api.get("/api/v1/commerce/settings").json()
    assert data["email_required"] is True and data["payment_methods"]["cash"] == {
        "name": "現金",
        "line": False,
        "whatsapp": True,
    }
    bad = api.patch("/api/v1/commerce/settings", {"email_required": False}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "default_email_required"
    ok = api.patch(
        "/api/v1/commerce/settings",
        {
            "email_required": False,
            "default_email": "o@example.com",
            "payment_methods": {"card": {"name": "刷卡", "line": True, "whatsapp": False}},
        },
        format="json",
    )
    assert ok.status_code == 200 and ok.json()["payment_methods"]["card"]["name"] == "刷卡"
    assert (
        api.patch(
            "/api/v1/commerce/settings",
            {"payment_methods": {"bank": {"name": "ATM", "line": True, "whatsapp": True}}},
            format="json",
        ).json()["error"]["code"]
        == "offline_whatsapp_only"
    )
    stripe = api.patch("/api/v1/commerce/settings", {"payment_provider": "stripe"}, format="json")
    assert stripe.json()["error"]["code"] == "missing_credentials"
