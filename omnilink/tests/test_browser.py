"""跨社群一鍵整合 in a real browser, both languages: the campaign list, the statistics page with its chart, the
整合成功 / 整合失敗 lists and the export that needs a range; and the explanation page a desktop gets."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from cdp.tests.factories import ChannelFactory, ContactFactory
from omnilink import demo
from omnilink.models import Campaign
from tests.browser.conftest import browser, page, screenshot  # noqa: F401  (fixtures)
from tests.factories import MembershipFactory, TeamFactory

from .helpers import link_path

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


def test_campaigns_statistics_lists_and_export(live_server, page, screenshot):  # noqa: F811
    team = TeamFactory(slug="omnilink-demo", name="Demo Brand 示範品牌")
    line = ChannelFactory(team=team, kind="line", name="LINE 官方帳號", is_sandbox=True)
    wa = ChannelFactory(team=team, kind="whatsapp", name="WhatsApp 客服專線", is_sandbox=True)
    now = timezone.now()
    for i in range(60):
        ContactFactory(channel=line, display_name=f"LINE 顧客 {i:02d}")
    for i in range(40):
        ContactFactory(channel=wa, external_id=f"+8529000{i:04d}", created_at=now - timedelta(days=i % 20, hours=3))
    demo.seed(team, random.Random(7), now=now)
    campaign = Campaign.objects.get(team=team)
    login(page, live_server, MembershipFactory(team=team, role="owner").user)

    page.goto(f"{live_server.url}/omnilink/")
    assert page.locator("[data-campaign]").count() == 1 and "活動統計" in page.content()
    screenshot("omnilink-campaigns-zh-hant")
    with page.expect_navigation():
        page.get_by_role("link", name="活動統計").click()
    page.wait_for_selector("[data-chart] .main-svg")
    assert page.get_by_test_id("participants").inner_text() == "60"
    assert page.get_by_test_id("export-disabled").count() == 1
    today = timezone.localtime(now, team.zone).date()
    page.fill("input[name=start]", str(today - timedelta(days=20)))
    page.fill("input[name=end]", str(today))
    with page.expect_navigation():
        page.locator("[data-testid=range-form] button[type=submit]").click()
    assert page.get_by_test_id("export").count() == 1
    screenshot("omnilink-statistics-success-zh-hant")
    with page.expect_navigation():
        page.get_by_test_id("tab-failure").click()
    assert "會員編號衝突" in page.content()
    screenshot("omnilink-statistics-failure-zh-hant")
    with page.expect_download() as download:
        page.get_by_test_id("export").click()
    assert "會員編號衝突" in open(download.value.path(), encoding="utf-8-sig").read()
    page.fill("input[name=start]", str(today - timedelta(days=120)))
    with page.expect_navigation():
        page.locator("[data-testid=range-form] button[type=submit]").click()
    assert "90" in page.get_by_test_id("range-error").inner_text()
    switch_language(page, "en")
    page.goto(f"{live_server.url}/omnilink/{campaign.pk}/statistics/?start={today - timedelta(days=20)}&end={today}")
    page.wait_for_selector("[data-chart] .main-svg")
    assert "Participants" in page.content() and "Target channel - new contacts" in page.content()
    screenshot("omnilink-statistics-success-en")
    ranged = f"{live_server.url}/omnilink/{campaign.pk}/statistics/?start={today - timedelta(days=20)}&end={today}"
    page.goto(f"{ranged}&tab=failure")
    assert "Member ID conflict" in page.content()
    screenshot("omnilink-statistics-failure-en")
    page.goto(f"{live_server.url}/omnilink/")
    screenshot("omnilink-campaigns-en")
    # The customer's side on a desktop: the page that explains what to do.
    source = ContactFactory(channel=line)
    page.goto(f"{live_server.url}{link_path(campaign, source.pk)}")
    assert page.get_by_test_id("deep-link").get_attribute("href").startswith("https://wa.me/85291234567?text=")
    screenshot("omnilink-link-desktop")
