"""帳戶總覽 in a real browser, both languages: the demo team's balance, usage, ledger and bill; then the low-balance
sticky bar and the grace block for an agent, lifted by a top-up."""

import datetime
import random
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.templatetags.console import money
from billing import demo, services
from billing.models import Account, TransactionType
from tests.browser.conftest import browser, page, screenshot  # noqa: F401  (fixtures)
from tests.factories import MembershipFactory, TeamFactory

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


def test_account_overview_and_low_balance_warnings(live_server, page, screenshot):  # noqa: F811
    team = TeamFactory(slug="billing-demo", name="Demo Brand 示範品牌")
    now = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    demo.seed(team, random.Random("1:billing"), now=now - datetime.timedelta(days=1))
    owner = MembershipFactory(team=team, role="owner").user
    login(page, live_server, owner)

    page.goto(f"{live_server.url}/billing/")
    assert page.locator("[data-kpi=balance]").inner_text() == money(services.balance(team), team.currency)
    assert page.get_by_test_id("usage-row").count() >= 6 and page.get_by_test_id("bill-row").count() == 1
    assert page.get_by_test_id("ledger-row").count() == 50
    assert page.locator(".sticky-bar").count() == 0
    screenshot("billing-overview-zh-hant")
    page.select_option("select[name=type]", "top_up")
    with page.expect_navigation():
        page.locator("[data-testid=billing-ledger] button[type=submit]").click()
    assert 1 <= page.get_by_test_id("ledger-row").count() <= 3
    switch_language(page, "en")
    assert "Account overview" in page.content() and "Top-up" in page.content()
    page.goto(f"{live_server.url}/billing/")
    screenshot("billing-overview-en")
    switch_language(page, "zh-hant")

    # Low balance, then below grace: an agent sees the sticky bar and the billing badge; a top-up lifts it.
    Account.objects.filter(team=team).update(balance=Decimal("-5"), grace_amount=Decimal("0"))
    page.context.clear_cookies()
    agent = MembershipFactory(team=team, role="agent").user
    login(page, live_server, agent)
    bar = page.locator(".sticky-bar")
    assert "簡訊功能暫停使用" in bar.inner_text()
    assert page.locator("a[data-menu=billing] .badge-danger").count() == 1
    screenshot("billing-blocked-sticky-bar-zh-hant")
    switch_language(page, "en")
    assert "SMS features are paused" in page.locator(".sticky-bar").inner_text()
    screenshot("billing-blocked-sticky-bar-en")
    with pytest.raises(services.BalanceBlocked):
        services.debit(team, 1, type=TransactionType.SMS_DEBIT, idempotency_key="blocked")
    services.credit(team, 1000, type=TransactionType.TOP_UP, idempotency_key="lift")
    page.reload()
    assert page.locator(".sticky-bar").count() == 0
