"""優惠券管理 and the claim page in a real browser, both languages (screenshots in screenshots/)."""

import pytest

from cdp.services import binding_links
from cdp.tests.factories import ChannelFactory, ContactFactory
from coupons import services
from tests.browser.conftest import browser, page, screenshot  # noqa: F401  (fixtures)
from tests.factories import MembershipFactory, TeamFactory

from .factories import make_campaign

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def login(tab, live_server, user):
    tab.goto(f"{live_server.url}/accounts/login/")
    tab.fill("input[name=username]", user.username)
    tab.fill("input[name=password]", "pw-for-tests-123")
    with tab.expect_navigation():
        tab.click("form.stack button[type=submit]")


def test_console_and_claim_page_in_both_languages(live_server, browser, page, screenshot):  # noqa: F811
    team = TeamFactory(slug="coupon-demo", name="Demo Brand 示範品牌")
    line = ChannelFactory(team=team, kind="line")
    campaign = make_campaign(team, image_url="", total_quantity=500)
    services.generate_codes(campaign, 200, prefix="SP")
    contacts = [ContactFactory(channel=line) for _ in range(6)]
    for contact in contacts[:3]:
        services.claim(campaign, contact)
    owner = MembershipFactory(team=team, role="owner").user
    login(page, live_server, owner)
    page.goto(f"{live_server.url}/coupons/")
    assert page.get_by_test_id("coupon-row").count() == 1
    page.goto(f"{live_server.url}/coupons/{campaign.pk}/")
    assert page.locator("[data-kpi=claimed]").inner_text() == "3"
    screenshot("coupons-detail-zh-hant")
    with page.expect_navigation():
        page.locator("form.language-switch button[data-lang='en']").first.click()
    assert "Claim rate" in page.content() and "Export claimed codes" in page.content()
    screenshot("coupons-detail-en")

    claim_path = f"/c/{binding_links.make_token(contacts[4], 'coupon', campaign.pk)}/"
    for locale, name, text in (("zh-TW", "zh-hant", "領取成功"), ("en-US", "en", "Claimed!")):
        context = browser.new_context(viewport={"width": 420, "height": 820}, locale=locale)
        tab = context.new_page()
        tab.goto(live_server.url + claim_path)
        assert text in tab.content() or "You have already claimed" in tab.content() or "你已領取" in tab.content()
        assert tab.get_by_test_id("coupon-code").inner_text().startswith("SP")
        tab.screenshot(path=str(_path(f"coupons-claim-{name}")), full_page=True)
        tab.goto(live_server.url + "/c/forged-token/")
        tab.screenshot(path=str(_path(f"coupons-claim-forged-{name}")), full_page=True)
        context.close()


def _path(name):
    from tests.browser.conftest import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"
