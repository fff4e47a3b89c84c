"""The customer console in a real browser: list, search, filters, the 360° page, an unsubscribe; both languages."""

import io
import re

import pytest
from django.core.management import call_command

from cdp.models import Contact, Customer, Tag
from tests.browser.conftest import browser, page, screenshot  # noqa: F401  (fixtures)
from tests.factories import MembershipFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def login(tab, live_server, user):
    tab.goto(f"{live_server.url}/accounts/login/")
    tab.fill("input[name=username]", user.username)
    tab.fill("input[name=password]", "pw-for-tests-123")
    with tab.expect_navigation():
        tab.click("form.stack button[type=submit]")


def switch_language(tab, code):
    with tab.expect_navigation():
        tab.locator(f"form.language-switch button[data-lang='{code}']").first.click()


def test_customer_console(live_server, page, screenshot):  # noqa: F811
    call_command("seed_demo", team="browser-demo", contacts=240, seed=3, stdout=io.StringIO())
    from accounts.models import Team

    team = Team.objects.get(slug="browser-demo")
    user = MembershipFactory(team=team, role="owner").user
    login(page, live_server, user)

    page.goto(f"{live_server.url}/customers/")
    assert page.get_by_test_id("quota-used").inner_text() == "240"
    rows = page.get_by_test_id("customer-row")
    assert rows.count() == 50
    screenshot("customers-list-zh-hant")

    # Search for a member id: the list is swapped in place by HTMX (no navigation).
    member = Customer.objects.filter(team=team, member_id__isnull=False).order_by("pk").first()
    page.fill("input[name=q]", member.member_id)
    page.wait_for_function("document.querySelectorAll('[data-testid=customer-row]').length === 1")
    assert member.member_id in rows.first.inner_text()
    assert "q=" in page.url

    # Clear the search, filter by a tag and a channel.
    page.fill("input[name=q]", "")
    page.wait_for_function("document.querySelectorAll('[data-testid=customer-row]').length === 50")
    vip = Tag.objects.get(team=team, name="VIP")
    expected = Customer.objects.filter(team=team, merged_into=None, customer_tags__tag=vip).count()
    page.select_option("select[name=tag]", str(vip.pk))
    page.wait_for_function(f"document.querySelectorAll('[data-testid=customer-row]').length === {min(expected, 50)}")
    page.select_option("select[name=bound]", "yes")
    page.wait_for_url(re.compile(r"bound=yes"))
    screenshot("customers-filtered-zh-hant")
    page.select_option("select[name=tag]", "")
    page.select_option("select[name=bound]", "")

    # Open the 360° page of a customer with a LINE contact and several channels.
    contact = (
        Contact.objects.filter(team=team, channel__kind="line", status="subscribed", customer__is_bound=True)
        .order_by("pk")
        .first()
    )
    page.goto(f"{live_server.url}/customers/{contact.customer_id}/")
    assert page.get_by_test_id("customer-name").inner_text() == str(contact.customer)
    assert "基本資料" in page.get_by_test_id("basic-data").inner_text()
    card = page.locator(f"#contact-{contact.pk}")
    assert "訂閱中" in card.get_by_test_id("contact-status").inner_text()
    screenshot("customer-360-zh-hant")

    # Unsubscribe the broadcast scope (confirm dialog), swapped in place.
    page.once("dialog", lambda dialog: dialog.accept())
    card.get_by_test_id("scope-broadcast").click()
    page.locator(f"#contact-{contact.pk} [data-testid=contact-status]", has_text="已取消訂閱").wait_for()
    contact.refresh_from_db()
    assert contact.unsubscribed_broadcast and contact.status == "unsubscribed"
    assert page.locator(f"#contact-{contact.pk} [data-testid=scope-broadcast]").inner_text() == "恢復訂閱"

    # English.
    switch_language(page, "en")
    assert "Profile" in page.get_by_test_id("basic-data").inner_text()
    assert "Unsubscribed" in page.locator(f"#contact-{contact.pk}").inner_text()
    screenshot("customer-360-en")
    page.goto(f"{live_server.url}/customers/")
    assert "Contact quota usage" in page.get_by_test_id("quota").inner_text()
    screenshot("customers-list-en")


def test_csv_import_flow(live_server, page, screenshot, tmp_path):  # noqa: F811
    from cdp.tests.factories import ChannelFactory
    from tests.factories import TeamFactory

    team = TeamFactory(slug="browser-import", name="匯入測試品牌")
    channel = ChannelFactory(team=team, kind="line", name="LINE 官方帳號")
    user = MembershipFactory(team=team, role="marketer").user
    login(page, live_server, user)
    csv_file = tmp_path / "名單.csv"
    uid = "U" + "a" * 32
    csv_file.write_text(f'\ufeffLINE UID,姓名,標籤\n{uid},王小明,"VIP,新客"\nbad-uid,錯誤列,VIP\n', encoding="utf-8")

    page.goto(f"{live_server.url}/customers/import/")
    page.set_input_files("input[name=file]", str(csv_file))
    page.select_option("select[name=channel]", str(channel.pk))
    with page.expect_navigation():
        page.click("button[type=submit].btn-primary")
    table = page.get_by_test_id("mapping-table")
    assert "王小明" in table.inner_text()
    assert page.locator("select[name=col_0]").input_value() == "key"
    screenshot("import-mapping-zh-hant")
    with page.expect_navigation():
        page.get_by_test_id("import-run").click()
    assert page.get_by_test_id("applied-rows").inner_text() == "1"
    assert page.get_by_test_id("error-rows").inner_text() == "1"
    assert "不是有效的 LINE UID" in page.get_by_test_id("import-progress").inner_text()
    screenshot("import-done-zh-hant")
    assert Contact.objects.filter(team=team, external_id=uid, source="import").exists()
