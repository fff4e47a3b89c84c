"""Quick SMS (「LINE 通知快捷發送簡訊」) in Debian's Chromium, zh-Hant and English: the price while typing, the result
after sending, on the conversation page and the customer 360° page, and the grace block. Screenshots go to
/work/main/screenshots/sms-*.png."""

import os
from decimal import Decimal

import pytest
from django.test import Client

from billing import services as ledger
from billing.models import Account
from cdp.tests.factories import ChannelFactory, ContactFactory
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
    user = MembershipFactory(team=team, role="agent").user
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    return page


def _run(tab, base, team, screenshot, lang):  # noqa: F811
    line = ChannelFactory(team=team, kind="line", is_sandbox=True, name=f"LINE {lang}")
    contact = ContactFactory(channel=line, display_name="王小明", phone="+886912345678")
    before = ledger.balance(team)
    tab.goto(f"{base}/messaging/conversations/{contact.pk}/")
    tab.wait_for_selector("[data-testid=sms-text]")
    tab.fill("[data-testid=sms-text]", "您好，您訂購的商品已到貨，請於七日內至門市取貨，謝謝！" * 3)
    tab.locator("[data-testid=sms-text]").press("End")  # a keyup: the price follows the text
    tab.wait_for_selector("[data-testid=sms-quote]:has-text('2')")
    screenshot(f"sms-quick-price-{lang}")
    tab.click("#quick-sms button[value=send]")
    tab.wait_for_selector("[data-testid=sms-result]")
    assert "+886912345678" in tab.inner_text("[data-testid=sms-result]")
    assert ledger.balance(team) == before - 2
    screenshot(f"sms-quick-result-{lang}")
    tab.goto(f"{base}/customers/{contact.customer_id}/")
    tab.wait_for_selector("[data-testid=sms-phone]")
    screenshot(f"sms-customer-360-{lang}")
    Account.objects.filter(team=team).update(grace_amount=Decimal("1000"))
    tab.goto(f"{base}/messaging/conversations/{contact.pk}/")
    tab.wait_for_selector("[data-testid=sms-blocked]")
    assert tab.locator("#quick-sms button[value=send]").is_disabled()
    screenshot(f"sms-quick-blocked-{lang}")
    Account.objects.filter(team=team).update(grace_amount=Decimal("0"))
    return tab.inner_text("#quick-sms")


def test_quick_sms_in_both_languages(logged_in, live_server, team, screenshot):  # noqa: F811
    ledger.credit(team, Decimal("50"), type="top_up", idempotency_key="t")
    text = _run(logged_in, live_server.url, team, screenshot, "zh")
    assert "LINE 通知快捷發送簡訊" in text
    logged_in.context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    text = _run(logged_in, live_server.url, team, screenshot, "en")
    assert "quick SMS" in text and "top up" in text
