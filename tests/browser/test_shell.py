"""The console shell in a real browser: log in, both languages, an HTMX form on the settings page."""

import re

import pytest

from accounts.models import ApiKey, hash_api_key
from tests.factories import MembershipFactory, TeamFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ZH_MENU = ["顧客", "分析", "受眾包", "推播", "顧客旅程", "帳戶與帳單", "設定"]
EN_MENU = ["Customers", "Analytics", "Audiences", "Broadcasts", "Journeys", "Billing", "Settings"]


def menu_labels(page):
    return [text.strip() for text in page.locator("nav.menu a").all_inner_texts()]


def switch_language(page, code):
    with page.expect_navigation():
        page.locator(f"form.language-switch button[data-lang='{code}']").first.click()


def test_login_languages_and_api_key(live_server, page, screenshot):
    team = TeamFactory(slug="browser-team", name="瀏覽器測試品牌")
    user = MembershipFactory(team=team, role="owner").user

    # The login page, in zh-Hant by default, then in English through the switch.
    page.goto(f"{live_server.url}/accounts/login/")
    assert page.locator("h1.auth-title").inner_text() == "登入您的帳號"
    screenshot("login-zh-hant")
    switch_language(page, "en")
    assert page.locator("h1.auth-title").inner_text() == "Sign in to your account"
    screenshot("login-en")
    switch_language(page, "zh-hant")

    # Log in through the real form.
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", "pw-for-tests-123")
    with page.expect_navigation():
        page.click("form.stack button[type=submit]")
    assert "/accounts/login/" not in page.url
    labels = menu_labels(page)
    for label in ZH_MENU:
        assert any(label in text for text in labels), (label, labels)
    assert page.get_by_test_id("team-name").inner_text() == team.name
    assert page.locator("html").get_attribute("lang") == "zh-hant"
    screenshot("shell-zh-hant")

    # The topbar's language switch turns the whole shell into English.
    switch_language(page, "en")
    labels = menu_labels(page)
    for label in EN_MENU:
        assert any(label in text for text in labels), (label, labels)
    assert page.locator("html").get_attribute("lang") == "en"
    screenshot("shell-en")

    # Settings: create an API key through the HTMX form; the raw key is shown once.
    page.locator("nav.menu a[data-menu=settings]").click()
    page.wait_for_url(re.compile(r"/settings/$"))
    keys = page.locator("#api-keys")
    keys.locator("input[name=key-name]").fill("Shopline")
    keys.locator("button[type=submit]").click()
    new_key = page.get_by_test_id("new-api-key")
    new_key.wait_for()
    raw_key = new_key.locator("code.secret").inner_text().strip()
    stored = ApiKey.objects.get(team=team, name="Shopline")
    assert stored.prefix in raw_key and stored.key_hash == hash_api_key(raw_key)
    assert page.url.endswith("/settings/")  # swapped in place by HTMX, no page load
    assert page.locator("#api-keys").count() == 1
    screenshot("settings-new-key-en")

    page.reload()
    assert page.get_by_test_id("new-api-key").count() == 0
    assert raw_key not in page.content()
    assert "Shopline" in page.locator("#api-keys").inner_text()
