"""The journey statistics page with money in two currencies, in Debian's Chromium, in zh-Hant and English (issue
24.4 / 24.6). Screenshots: screenshots/journeys-statistics-money-*.png."""

import os

import pytest
from django.test import Client

from journeys.tests.test_stats import _send, two_currencies  # noqa: F401 (the hand-computed fixture)
from tests.browser.conftest import CHROMIUM, SKIP_REASON, browser, page, screenshot  # noqa: F401
from tests.factories import MembershipFactory

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=SKIP_REASON),
]


def test_statistics_page_shows_money_per_currency_and_roas(page, live_server, team, two_currencies, screenshot):  # noqa: F811
    _j1, j2 = two_currencies
    client = Client()
    client.force_login(MembershipFactory(team=team, role="owner").user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    url = f"{live_server.url}/journeys/{j2.pk}/statistics/"

    page.goto(url)
    revenue = page.inner_text("[data-kpi=revenue]")
    assert "HKD 300" in revenue and "NT$1,500" in revenue
    assert page.inner_text("[data-kpi=roas]") == "—"
    assert "HKD 對 TWD 的匯率" in page.inner_text("[data-testid=roas-reason]")
    assert "瀏覽後轉換" in page.inner_text("[data-kpi=view_through]")
    screenshot("journeys-statistics-money-zh")

    team.exchange_rates = {"HKD": "4"}
    team.save(update_fields=["exchange_rates"])
    page.context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    page.goto(url)
    assert page.inner_text("[data-kpi=roas]") == "450×"
    content = page.content()
    assert (
        "in TWD through the team's exchange rates" in content and "View-through (no click, not in revenue)" in content
    )
    assert "Read rate (WhatsApp)" in content
    screenshot("journeys-statistics-money-en")
