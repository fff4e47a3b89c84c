"""Issue 18 console pages in Debian's Chromium, in zh-Hant and English: a WhatsApp channel (manual numbers,
chat-history import), a LINE channel (friend sync progress), the comment rules list and a rule with its trigger
count, and the OMO staff / branch page. Screenshots go to screenshots/sources-*.png."""

import os

import pytest

from cdp.services import omo
from cdp.tests.factories import ChannelFactory
from messaging.models import CommentRule, FriendSync
from tests.browser.conftest import CHROMIUM, SKIP_REASON, browser, logged_in, page, screenshot  # noqa: F401

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=SKIP_REASON),
]


def _run(tab, base, team, screenshot, lang, objects):  # noqa: F811
    wa, line, rule = objects["wa"], objects["line"], objects["rule"]
    tab.goto(f"{base}/messaging/channels/{wa.pk}/")
    tab.wait_for_selector("[data-testid=manual-numbers]")
    tab.fill("[data-testid=manual-numbers] textarea", "0912 345 678\n+85291234567")
    tab.click("[data-testid=manual-numbers] button[type=submit]")
    tab.wait_for_selector("[data-testid=chat-history]")
    screenshot(f"sources-whatsapp-channel-{lang}")
    tab.goto(f"{base}/messaging/channels/{line.pk}/")
    tab.wait_for_selector("[data-testid=friend-sync]")
    screenshot(f"sources-line-channel-{lang}")
    tab.goto(f"{base}/messaging/comment-rules/")
    tab.wait_for_selector("[data-testid=comment-rule-table]")
    screenshot(f"sources-comment-rules-{lang}")
    tab.goto(f"{base}/messaging/comment-rules/{rule.pk}/")
    assert tab.inner_text("[data-testid=trigger-count]") == "12"
    screenshot(f"sources-comment-rule-{lang}")
    tab.goto(f"{base}/customers/omo/")
    tab.wait_for_selector("[data-testid=omo-members] svg")
    screenshot(f"sources-omo-{lang}")
    return tab.content()


def test_source_pages_in_both_languages(logged_in, live_server, team, screenshot):  # noqa: F811
    wa = ChannelFactory(
        team=team,
        kind="whatsapp",
        name="WhatsApp 客服",
        is_sandbox=True,
        credentials={"display_phone_number": "+886 2 1234 5678"},
    )
    line = ChannelFactory(team=team, kind="line", name="LINE 官方帳號", credentials={"basic_id": "@shop"})
    FriendSync.objects.create(team=team, channel=line, status="running", seen=1200, created=640, existing=120)
    rule = CommentRule.objects.create(
        team=team, name="留言 +1 抽獎", keywords=["+1", "抽"], reply_text="感謝留言！優惠碼已私訊給您", trigger_count=12
    )
    CommentRule.objects.create(team=team, name="直播任何留言", any_comment=True, reply_text="看私訊 👀")
    omo.create_member(team=team, kind="staff", name="王店長")
    omo.create_member(team=team, kind="branch", name="信義旗艦店")
    objects = {"wa": wa, "line": line, "rule": rule}
    content = _run(logged_in, live_server.url, team, screenshot, "zh", objects)
    assert "店員與分店" in content and "OMO-" in content
    logged_in.context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    content = _run(logged_in, live_server.url, team, screenshot, "en", objects)
    assert "Staff and branches" in content and "Binding code" in content
