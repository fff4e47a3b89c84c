"""The console: an order from the conversation view, staff marking an offline payment, 基本設定 with the logo rules."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from cdp.tests.factories import ContactFactory
from commerce.models import Order, PickupBranch
from commerce.services import shop_settings

from .helpers import dispatch

pytestmark = pytest.mark.django_db

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00"
    b"\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


def test_order_from_the_conversation_view_then_mark_paid(console, team, wa, platform):
    contact = ContactFactory(channel=wa, external_id="+85291230009", last_customer_interaction_at=timezone.now())
    branch = PickupBranch.objects.create(team=team, name="銅鑼灣店")
    page = console.get(f"/messaging/conversations/{contact.pk}/")
    assert 'data-testid="new-order"' in page.text
    form = console.get(f"/orders/new/?contact={contact.pk}")
    assert "由顧客選擇" in form.text and "到店付款" in form.text and "現金" in form.text
    bad = console.post(
        "/orders/new/",
        {"contact": contact.pk, "item_name": [""], "item_quantity": ["1"], "item_price": [""], "item_product": [""]},
    )
    assert bad.status_code == 400 and "至少需要一個品項" in bad.text and not Order.objects.exists()
    data = {
        "contact": contact.pk,
        "item_product": ["", ""],
        "item_name": ["花束", ""],
        "item_quantity": ["2", "1"],
        "item_price": ["300", ""],
        "delivery": "pickup",
        "pickup_branch": branch.pk,
        "payment_choice": "pay_at_store",
        "send": "1",
    }
    response = console.post("/orders/new/", data)
    order = Order.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/orders/{order.pk}/"
    assert order.status == "awaiting_confirmation" and order.payment_method == "cash" and order.created_by is not None
    assert dispatch() == 1
    from commerce.services import orders

    orders.confirm_order(order, email="x@example.com")
    detail = console.get(f"/orders/{order.pk}/")
    assert 'data-testid="mark-paid"' in detail.text
    console.post(f"/orders/{order.pk}/mark_paid/")
    assert Order.objects.get(pk=order.pk).status == "paid"
    assert "已付款" in console.get("/orders/?status=paid").text


def test_settings_email_and_method_names(console, team):
    page = console.get("/orders/settings/")
    assert page.status_code == 200 and "必填" in page.text and "選填" in page.text and "啟用購物車" in page.text
    base = {
        "email_required": "0",
        "default_email": "",
        "payment_provider": "sandbox",
        "catalog_id": "",
        "name_card": "信用卡",
        "line_card": "on",
        "whatsapp_card": "on",
        "name_cash": "現金",
        "whatsapp_cash": "on",
        "name_cheque": "支票",
        "name_bank": "轉帳",
    }
    refused = console.post("/orders/settings/", base)
    assert refused.status_code == 400 and "預設的 Email" in refused.text
    assert shop_settings.get_settings(team).email_required is True
    ok = console.post("/orders/settings/", {**base, "default_email": "shop@example.com"})
    assert ok.status_code == 302
    row = shop_settings.get_settings(team)
    assert row.email_required is False and shop_settings.methods(row)["bank"] == {
        "name": "轉帳",
        "line": False,
        "whatsapp": False,
    }


def test_logo_defaults_to_the_team_avatar_and_can_be_replaced_deleted_restored(console, team):
    assert 'data-testid="no-logo"' in console.get("/orders/settings/").text  # no avatar: no image
    team.avatar.save("avatar.png", SimpleUploadedFile("avatar.png", PNG), save=True)
    page = console.get("/orders/settings/")
    assert "目前使用團隊大頭照" in page.text
    console.post("/orders/settings/logo/upload/", {"logo": SimpleUploadedFile("mine.png", PNG, "image/png")})
    assert "目前使用上傳的圖片" in console.get("/orders/settings/").text
    console.post("/orders/settings/logo/delete/")
    assert 'data-testid="no-logo"' in console.get("/orders/settings/").text
    console.post("/orders/settings/logo/restore/")
    assert "目前使用團隊大頭照" in console.get("/orders/settings/").text
    console.post("/orders/settings/logo/delete/")  # delete the team avatar from the pages
    assert shop_settings.logo_file(team) is None
    bad = console.post("/orders/settings/logo/upload/", {"logo": SimpleUploadedFile("x.exe", b"MZ")}, follow=True)
    assert "PNG" in bad.text


def test_the_customer_pages_show_the_logo(client, console, team, wa, platform):
    from commerce.services import links, orders

    team.avatar.save("avatar.png", SimpleUploadedFile("avatar.png", PNG), save=True)
    contact = ContactFactory(channel=wa, external_id="+85291230010", last_customer_interaction_at=timezone.now())
    order = orders.send_order(
        orders.create_order(team=team, contact=contact, items=[{"name": "A", "quantity": 1, "unit_price": 1}])
    )
    token = links.token_for(order)
    page = client.get(f"/order/{token}/")
    assert f"/order/{token}/logo" in page.text
    assert client.get(f"/order/{token}/logo").status_code == 200
    english = client.get(f"/order/{token}/?lang=en")
    assert "Confirm order" in english.text or "確認訂單" in english.text


def test_a_link_outside_the_whatsapp_window_is_refused_in_words_and_leaves_no_draft(console, team, wa):
    contact = ContactFactory(channel=wa, external_id="+85291230011")  # the customer never wrote
    data = {"contact": contact.pk, "item_product": [""], "item_name": ["花束"], "item_quantity": ["1"]}
    response = console.post("/orders/new/", {**data, "item_price": ["300"], "send": "1"})
    assert response.status_code == 400 and "24 小時" in response.text
    assert "{&#x27;contact&#x27;" not in response.text and "{'contact'" not in response.text  # words, not a dict
    assert not Order.objects.exists()
