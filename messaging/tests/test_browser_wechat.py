"""The WeChat channel in Debian's Chromium, in zh-Hant and English: connect it through the channel page's form
(AppID, AppSecret, Token, EncodingAESKey), see its webhook URL and 安全模式, the channel list, and a keyword rule
with its WeChat QR code, and a broadcast editor on the WeChat channel (template message only). Screenshots go to
screenshots/wechat-*.png."""

import os

import pytest

from cdp.models import Channel
from tests.browser.conftest import CHROMIUM, SKIP_REASON, browser, logged_in, page, screenshot  # noqa: F401

from . import wechat_payloads as P
from .factories import KeywordRuleFactory

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=SKIP_REASON),
]


def _run(tab, base, team, screenshot, lang):  # noqa: F811
    tab.goto(f"{base}/messaging/")
    tab.wait_for_selector("[data-testid=connect-form]")
    tab.select_option("select[name=kind]", "wechat")
    tab.fill("input[name=name]", f"WeChat 服務號 {lang}")
    tab.fill("input[name=external_id]", f"wx2c2769f8efd9a{lang}")
    tab.fill("input[name=app_secret]", P.APP_SECRET)
    tab.fill("input[name=token]", P.TOKEN)
    tab.fill("input[name=encoding_aes_key]", P.AES_KEY)
    tab.click("[data-testid=connect-form] button[type=submit]")
    tab.wait_for_selector("[data-testid=webhook-url]")
    channel = Channel.objects.get(team=team, name=f"WeChat 服務號 {lang}")
    assert tab.input_value("[data-testid=webhook-url]").endswith(f"/webhooks/wechat/{channel.pk}/")
    mode = tab.inner_text("[data-testid=wechat-mode]")
    assert ("安全模式" if lang == "zh" else "Safe mode") in mode
    screenshot(f"wechat-channel-{lang}")
    tab.goto(f"{base}/messaging/")
    tab.wait_for_selector("[data-testid=channel-table]")
    assert f"/webhooks/wechat/{channel.pk}/" in tab.content()
    screenshot(f"wechat-channels-{lang}")
    rule = KeywordRuleFactory(team=team, channel=channel, name=f"加入會員 {lang}", keywords=["會員"], trigger_count=5)
    rule.wechat_qr_url = f"http://weixin.qq.com/q/kw-{rule.join_token}"
    rule.save()
    tab.goto(f"{base}/messaging/keywords/{rule.pk}/")
    tab.wait_for_selector("[data-testid=qr] svg")
    screenshot(f"wechat-keyword-{lang}")
    tab.goto(f"{base}/messaging/keywords/")
    tab.wait_for_selector("[data-testid=rule-table]")
    assert f"加入會員 {lang}" in tab.inner_text("[data-testid=rule-table]")
    screenshot(f"wechat-keywords-{lang}")
    # A broadcast on the WeChat channel: only the template message is offered (no type picker, no module).
    tab.goto(f"{base}/audiences/broadcasts/new/")
    tab.select_option("select[name=channel]", str(channel.pk))
    tab.wait_for_selector("[data-testid=wechat-template-id]", state="visible")
    assert tab.input_value("[data-testid=content-type]") == "wechat_template"
    assert not tab.is_visible("[data-testid=content-type]") and not tab.is_visible("[data-testid=module-select]")
    tab.fill("[data-testid=wechat-template-id]", "TPL_ORDER")
    tab.fill("[data-testid=wechat-data]", "first: 雙11 開跑\nkeyword1: 全館 8 折")
    tab.wait_for_selector("[data-testid=wechat-template-preview]:has-text('全館 8 折')")
    screenshot(f"wechat-broadcast-{lang}")


def test_wechat_channel_pages_in_both_languages(logged_in, live_server, team, screenshot):  # noqa: F811
    _run(logged_in, live_server.url, team, screenshot, "zh")
    logged_in.context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    _run(logged_in, live_server.url, team, screenshot, "en")
