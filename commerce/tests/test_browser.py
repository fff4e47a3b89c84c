"""The customer's order pages and 基本設定 in a real browser: phone and laptop sizes, both languages."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from cdp.tests.factories import ChannelFactory, ContactFactory
from commerce.models import PickupBranch
from commerce.services import links, orders
from tests.browser.conftest import browser, page, screenshot  # noqa: F401  (fixtures)
from tests.factories import MembershipFactory, TeamFactory

from .test_console import PNG

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}


def login(tab, live_server, user):
    tab.goto(f"{live_server.url}/accounts/login/")
    tab.fill("input[name=username]", user.username)
    tab.fill("input[name=password]", "pw-for-tests-123")
    with tab.expect_navigation():
        tab.click("form.stack button[type=submit]")


def test_customer_pages_and_settings(live_server, page, screenshot, settings):  # noqa: F811
    settings.PUBLIC_BASE_URL = live_server.url
    team = TeamFactory(slug="shop", name="花漾美妝 Bloom Beauty")
    team.avatar.save("avatar.png", SimpleUploadedFile("avatar.png", PNG), save=True)
    wa = ChannelFactory(team=team, kind="whatsapp", is_sandbox=True, name="WhatsApp")
    branch = PickupBranch.objects.create(team=team, name="信義旗艦店", address="台北市信義區松高路 11 號")
    contact = ContactFactory(
        channel=wa, external_id="+85291234567", display_name="Amy", last_customer_interaction_at=timezone.now()
    )
    order = orders.create_order(
        team=team,
        contact=contact,
        items=[
            {"name": "保濕精華液 30ml", "sku": "SER-01", "quantity": 2, "unit_price": "1280"},
            {"name": "玻尿酸面膜 5 入", "sku": "MSK-03", "quantity": 1, "unit_price": "450"},
        ],
        payment_choice="customer",
    )
    order = orders.send_order(order)
    url = f"{live_server.url}/order/{links.token_for(order)}/"

    for size_name, size in (("phone", PHONE), ("laptop", LAPTOP)):
        page.set_viewport_size(size)
        page.goto(url)
        assert page.locator("header.shop img").count() == 1 and "保濕精華液" in page.content()
        screenshot(f"commerce-confirm-zh-hant-{size_name}")
        page.goto(url + "?lang=en")
        assert "Confirm order" in page.content() and "Store pickup" in page.content()
        screenshot(f"commerce-confirm-en-{size_name}")

    page.set_viewport_size(PHONE)
    page.goto(url)
    page.check("input[name=delivery][value=pickup]")
    page.select_option("select[name=pickup_branch]", str(branch.pk))
    page.check("input[name=payment_method][value=cash]")
    page.fill("input[name=email]", "amy@example.com")
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "訂單預覽" in page.content()
    screenshot("commerce-preview-zh-hant-phone")
    page.goto(url + "?lang=en")
    screenshot("commerce-preview-en-phone")
    orders.mark_paid(order.__class__.objects.get(pk=order.pk), actor="staff")
    page.goto(url)
    assert "訂單明細" in page.content()
    screenshot("commerce-detail-zh-hant-phone")
    page.set_viewport_size(LAPTOP)
    page.goto(url + "?lang=en")
    assert "Order details" in page.content()
    screenshot("commerce-detail-en-laptop")

    owner = MembershipFactory(team=team, role="owner").user
    login(page, live_server, owner)
    for size_name, size in (("laptop", LAPTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.goto(f"{live_server.url}/orders/settings/")
        assert page.get_by_test_id("logo-preview").count() == 1
        screenshot(f"commerce-settings-zh-hant-{size_name}")
    page.set_viewport_size(LAPTOP)
    page.goto(f"{live_server.url}/orders/")
    screenshot("commerce-orders-zh-hant-laptop")
    with page.expect_navigation():
        page.locator("form.language-switch button[data-lang='en']").first.click()
    page.goto(f"{live_server.url}/orders/settings/")
    assert "Enable cart" in page.content()
    screenshot("commerce-settings-en-laptop")
    page.set_viewport_size(PHONE)
    screenshot("commerce-settings-en-phone")
