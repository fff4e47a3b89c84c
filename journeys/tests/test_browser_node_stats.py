"""Issue 20.15 in Debian's Chromium: opening a message node shows its statistics in the drawer (seed 002), and the
publish errors name nodes by position and type (never a node code), in zh-Hant and English."""

import re

import pytest
from django.test import Client

from cdp.tests.factories import ChannelFactory, ContactFactory
from journeys.models import JourneyChannel, NodeRollup
from journeys.tests.factories import JourneyFactory, delay, enroll_directly, message, node, published_journey
from messaging.tests.factories import ChatbotModuleFactory
from tests.browser.conftest import browser, page, screenshot  # noqa: F401  (fixtures)
from tests.factories import MembershipFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(tab, live_server, team):
    client = Client()
    client.force_login(MembershipFactory(team=team, role="owner").user)
    tab.context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}])


def switch_to_english(tab):
    with tab.expect_navigation():
        tab.locator("form.language-switch button[data-lang='en']").first.click()


def test_message_node_statistics_and_publish_errors(live_server, page, screenshot, team):  # noqa: F811
    line = ChannelFactory(team=team, kind="line", name="LINE 官方帳號")
    module = ChatbotModuleFactory(team=team, name="歡迎訊息")
    journey = published_journey(team, line, [delay(days=1), message(line, module)], name="新客歡迎")
    first, sent = journey.current_version.graph["nodes"]
    enroll_directly(journey, ContactFactory(channel=line))
    NodeRollup.objects.create(
        team=team,
        journey=journey,
        version=journey.current_version,
        node=sent["id"],
        channel_kind="line",
        stats={"sent": 1200, "opens": 300, "replies": 12, "clicks": 60, "cost_by_currency": {"TWD": "240.0"}},
    )
    log_in(page, live_server, team)
    page.goto(f"{live_server.url}/journeys/{journey.pk}/")
    page.locator(f"#node-{sent['id']} [data-testid=edit-node]").click()
    panel = page.get_by_test_id("node-stats-panel")
    panel.wait_for()
    assert "1,200" in panel.locator("[data-stat=sent]").inner_text()
    assert panel.locator("[data-stat=open]").inner_text() == "300 · 25.0%"
    assert page.get_by_test_id("node-title").inner_text() == "第 2 個節點（訊息）"
    assert sent["id"] not in page.locator("#drawer").inner_text()
    screenshot("journeys-node-stats-zh-hant")

    page.keyboard.press("Escape")  # the drawer closes; its backdrop no longer covers the page
    switch_to_english(page)
    page.locator(f"#node-{sent['id']} [data-testid=edit-node]").click()
    page.get_by_test_id("node-stats-panel").wait_for()
    assert "Step statistics" in page.get_by_test_id("node-stats-panel").inner_text()
    assert page.get_by_test_id("node-title").inner_text() == "Step 2 (Message)"
    screenshot("journeys-node-stats-en")

    # A draft with two unfinished nodes: publishing names them by position and type.
    draft = JourneyFactory(team=team, name="草稿旅程", draft_graph={"nodes": [node("message"), node("tags")]})
    JourneyChannel.objects.create(team=team, journey=draft, channel=line)
    page.goto(f"{live_server.url}/journeys/{draft.pk}/")
    page.get_by_test_id("publish").click()
    errors = page.get_by_test_id("publish-errors")
    errors.wait_for()
    text = errors.inner_text()
    assert "Step 1 (Message)" in text and "Step 2 (Tags)" in text
    assert not re.search(r"\bn[0-9a-f]{8}\b", page.locator("main").inner_text())
    screenshot("journeys-publish-errors-en")
    page.locator("form.language-switch button[data-lang='zh-hant']").first.click()
    page.wait_for_load_state()
    page.get_by_test_id("publish").click()
    page.get_by_test_id("publish-errors").wait_for()
    assert "第 1 個節點（訊息）" in page.get_by_test_id("publish-errors").inner_text()
    assert first["id"] not in page.locator("main").inner_text()
    screenshot("journeys-publish-errors-zh-hant")
