"""The analytics page in Debian's Chromium: all five figure groups drawn by plotly, in zh-Hant and English,
filters swapping cards in place with HTMX. Screenshots go to /work/main/screenshots/."""

import os

import pytest
from django.core.management import call_command
from django.test import Client

from tests.browser.conftest import CHROMIUM, SKIP_REASON, browser, page, screenshot  # noqa: F401
from tests.factories import MembershipFactory

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=SKIP_REASON),
]

QUERY = "?start=2025-07-01&end=2026-06-30&unit=month&month=2026-06"
CHARTS = [
    "chart-total_contacts",
    "chart-bound_valid_contacts",
    "chart-new_contacts",
    "chart-unsubscribes",
    "chart-binding_sources",
    "chart-contact_sources",
    "chart-valid_contacts",
]


@pytest.fixture
def logged_in(page, live_server, team):  # noqa: F811
    call_command("seed_demo", team=team.slug, contacts=3000, now="2026-06-30", seed=3)
    user = MembershipFactory(team=team, role="owner").user
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    return page


def _all_drawn(tab):
    for chart in CHARTS:
        tab.wait_for_selector(f'[data-chart="{chart}"] .main-svg', state="attached")
    assert tab.locator("[data-kpi]").count() == 4


def test_all_five_figure_groups_render_in_both_languages(logged_in, live_server, screenshot):  # noqa: F811
    tab = logged_in
    tab.goto(f"{live_server.url}/analytics/{QUERY}")
    _all_drawn(tab)
    for word in [
        "全渠道顧客",
        "總聯絡人數",
        "總社群身份綁定數",
        "新聯絡人數",
        "取消訂閱數",
        "社群身份綁定來源",
        "新聯絡人來源",
        "社群渠道有效聯絡人",
    ]:
        assert tab.get_by_text(word, exact=False).first.is_visible(), word
    tab.wait_for_timeout(300)
    screenshot("analytics-zh-hant")

    # Filters update the card in place (HTMX): switch to weeks, the overview charts are redrawn.
    tab.select_option('#card-overview select[name="unit"]', "week")
    tab.wait_for_function(
        "document.querySelector('#card-overview select[name=unit]').value === 'week'"
        " && document.querySelectorAll('#card-overview [data-chart] .main-svg').length >= 4"
        " && document.querySelector('#chart-new_contacts').textContent.includes('2025-06-30')"
    )
    # A sixth channel is refused with a message (the demo team has 6 channels).
    boxes = tab.locator('#card-overview input[name="channels"]')
    assert boxes.count() == 6
    for i in range(6):
        if not boxes.nth(i).is_checked():
            boxes.nth(i).check()
            break
    tab.wait_for_selector('#card-overview [data-error="channels"]')
    assert "最多同時選取 5 個渠道" in tab.inner_text("#card-overview")

    tab.context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    tab.goto(f"{live_server.url}/analytics/{QUERY}")
    _all_drawn(tab)
    for word in [
        "Omni-channel customers",
        "Total contacts",
        "Total social identity bindings",
        "Unsubscribes",
        "Social identity binding sources",
        "New contact sources",
        "Valid contacts per channel",
    ]:
        assert tab.get_by_text(word, exact=False).first.is_visible(), word
    tab.wait_for_timeout(300)
    screenshot("analytics-en")

    tab.goto(f"{live_server.url}/")
    tab.wait_for_selector('[data-kpi="omni_customers"]')
    screenshot("home-kpis-en")
