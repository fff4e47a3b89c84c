"""The customer list's bulk actions and sort order in a real browser (issue 20.16): tag two checked customers, tag
every customer matching a filter (after a confirmation), a bad bulk input shows its error; both languages."""

import pytest

from cdp.models import Customer, CustomerTag
from cdp.tests.factories import ChannelFactory, ContactFactory, CustomerTagFactory, TagFactory
from cdp.tests.test_browser import login, switch_language
from tests.browser.conftest import browser, page, screenshot  # noqa: F401  (fixtures)
from tests.factories import MembershipFactory, TeamFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def tagged(team, name):
    return set(CustomerTag.objects.filter(team=team, tag__name=name).values_list("customer__name", flat=True))


@pytest.fixture
def shop():
    team = TeamFactory(slug="browser-bulk", name="批次測試品牌")
    line = ChannelFactory(team=team, kind="line", name="LINE 官方帳號")
    customers = [ContactFactory(channel=line, display_name=f"顧客{i}").customer for i in range(5)]
    vip = TagFactory(team=team, name="VIP")
    for customer in customers[:3]:
        CustomerTagFactory(customer=customer, tag=vip)
    user = MembershipFactory(team=team, role="marketer").user
    return team, customers, vip, user


def wait_for_list(tab):
    tab.wait_for_function("!document.querySelector('#results.htmx-request')")


def test_tag_two_selected_customers(live_server, page, screenshot, shop):  # noqa: F811
    team, customers, _vip, user = shop
    login(page, live_server, user)
    page.goto(f"{live_server.url}/customers/")
    rows = page.get_by_test_id("customer-row")
    assert rows.count() == 5
    # Newest first by default; the order is a visible choice.
    assert page.locator("select[name=sort]").input_value() == "newest"

    for customer in customers[:2]:
        page.locator(f"input[name=ids][value='{customer.pk}']").check()
    assert page.get_by_test_id("selected-count").inner_text() == "2"
    page.get_by_test_id("bulk-tag").fill("春季活動")
    page.get_by_test_id("bulk-add-tag").click()
    done = page.get_by_test_id("bulk-done")
    done.wait_for()
    assert "已為 2 位顧客新增標籤「春季活動」" in done.inner_text()
    assert tagged(team, "春季活動") == {"顧客0", "顧客1"}
    # The list reloads and shows the new tag on those rows.
    page.locator("[data-testid=customer-row]", has_text="春季活動").nth(1).wait_for()
    assert page.locator("[data-testid=customer-row]", has_text="春季活動").count() == 2
    assert page.get_by_test_id("select-customer").count() == 5  # the reloaded rows can be checked again
    screenshot("customers-bulk-selected-zh-hant")

    # A bad input shows its error beside the bar; nothing changes.
    page.get_by_test_id("bulk-tag").fill("")
    page.get_by_test_id("bulk-add-tag").click()
    page.get_by_test_id("bulk-error").wait_for()
    assert "請輸入標籤名稱" in page.get_by_test_id("bulk-error").inner_text()

    # Sort by oldest first: the first created customer comes first.
    page.select_option("select[name=sort]", "oldest")
    page.wait_for_url("**sort=oldest**")
    wait_for_list(page)
    oldest = Customer.objects.filter(team=team).order_by("created_at", "id").first()
    assert oldest.name in rows.first.inner_text()

    switch_language(page, "en")
    bar = page.get_by_test_id("bulk-form").inner_text()
    assert "Bulk actions" in bar and "All customers matching the filters" in bar
    assert "Created: oldest first" in page.locator("select[name=sort]").inner_text()
    # The English placeholder fits its box.
    assert page.locator("input[name=q]").evaluate(
        "el => { const c = document.createElement('canvas').getContext('2d'); const s = getComputedStyle(el);"
        " c.font = s.fontSize + ' ' + s.fontFamily; return c.measureText(el.placeholder).width < el.clientWidth - 16; }"
    )
    screenshot("customers-bulk-en")


def test_tag_all_customers_matching_the_filter(live_server, page, screenshot, shop):  # noqa: F811
    team, _customers, vip, user = shop
    login(page, live_server, user)
    page.goto(f"{live_server.url}/customers/")
    page.select_option("select[name=tag]", str(vip.pk))
    page.wait_for_function("document.querySelectorAll('[data-testid=customer-row]').length === 3")

    page.get_by_test_id("scope-filter").check()
    page.get_by_test_id("bulk-tag").fill("高價值")
    asked = []

    def accept(dialog):
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.get_by_test_id("bulk-add-tag").click()
    page.get_by_test_id("bulk-done").wait_for()
    assert asked and "共 3 位顧客" in asked[0]
    assert tagged(team, "高價值") == {"顧客0", "顧客1", "顧客2"}
    page.locator("[data-testid=customer-row]", has_text="高價值").nth(2).wait_for()
    screenshot("customers-bulk-filter-zh-hant")

    # Declining the confirmation changes nothing.
    page.get_by_test_id("bulk-remove-tag").wait_for()
    page.get_by_test_id("bulk-tag").fill("高價值")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_test_id("bulk-remove-tag").click()
    page.wait_for_timeout(300)
    assert tagged(team, "高價值") == {"顧客0", "顧客1", "顧客2"}
