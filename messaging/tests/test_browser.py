"""Messaging console pages in Debian's Chromium, in zh-Hant and English: connect a sandbox channel and see its
webhook URL, reply to a contact and see the reply with its status, a keyword rule with its trigger count,
and the chatbot module pages. Screenshots go to /work/main/screenshots/messaging-*.png."""

import os

import pytest
from django.utils import timezone, translation

from cdp.models import Channel
from cdp.tests.factories import ContactFactory
from messaging.models import InboundMessage, OutboundMessage
from tests.browser.conftest import CHROMIUM, SKIP_REASON, browser, logged_in, page, screenshot  # noqa: F401

from .factories import ChatbotModuleFactory, KeywordRuleFactory

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=SKIP_REASON),
]


def _run(tab, base, team, screenshot, lang):  # noqa: F811
    suffix = lang
    # Channels: connect a sandbox LINE channel, land on its page with the webhook URL to paste.
    tab.goto(f"{base}/messaging/")
    tab.wait_for_selector("[data-testid=connect-form]")
    tab.select_option("select[name=kind]", "line")
    tab.fill("input[name=name]", f"Sandbox {lang}")
    tab.check("input[name=is_sandbox]")
    tab.click("[data-testid=connect-form] button[type=submit]")
    tab.wait_for_selector("[data-testid=webhook-url]")
    channel = Channel.objects.get(team=team, name=f"Sandbox {lang}")
    assert tab.input_value("[data-testid=webhook-url]").endswith(f"/webhooks/line/{channel.pk}/")
    screenshot(f"messaging-channel-{suffix}")
    tab.goto(f"{base}/messaging/")
    tab.wait_for_selector("[data-testid=channel-table]")
    assert f"Sandbox {lang}" in tab.content()
    screenshot(f"messaging-channels-{suffix}")

    # Conversation: the customer wrote; the agent replies; the reply shows with its status.
    contact = ContactFactory(channel=channel, display_name="王小明")
    InboundMessage.objects.create(
        team=team, channel=channel, contact=contact, text="請問還有貨嗎？", occurred_at=timezone.now()
    )
    tab.goto(f"{base}/messaging/conversations/{contact.pk}/")
    tab.wait_for_selector("[data-testid=reply-form]")
    tab.fill("[data-testid=reply-form] textarea", "有的，今天下單明天出貨。")
    tab.click("[data-testid=reply-form] button[type=submit]")
    tab.wait_for_selector("[data-direction=out]")
    reply = OutboundMessage.objects.get(contact=contact, origin="agent")
    assert reply.status in ("sent", "delivered", "read")
    bubble = tab.locator("[data-direction=out]").first.inner_text()
    with translation.override("en" if lang == "en" else "zh-hant"):
        assert "有的，今天下單明天出貨。" in bubble and str(reply.get_status_display()) in bubble
    screenshot(f"messaging-conversation-{suffix}")

    # Keyword rule: its condition page shows the trigger count.
    rule = KeywordRuleFactory(
        team=team, name=f"優惠 {lang}", keywords=["優惠", "折扣"], trigger_count=37, channel=channel
    )
    tab.goto(f"{base}/messaging/keywords/")
    tab.wait_for_selector("[data-testid=rule-table]")
    screenshot(f"messaging-keywords-{suffix}")
    tab.goto(f"{base}/messaging/keywords/{rule.pk}/")
    tab.wait_for_selector("text=37")
    screenshot(f"messaging-keyword-{suffix}")

    # Chatbot modules: list, a carousel's form with its preview, the delete confirmation.
    module = ChatbotModuleFactory(
        team=team,
        name=f"春季新品 {lang}",
        type="carousel",
        content={
            "cards": [
                {
                    "image_url": "https://img.example/a.jpg",
                    "title": "外套",
                    "text": "保暖輕量",
                    "buttons": [{"label": "購買", "url": "https://s.example/a"}],
                },
                {"image_url": "https://img.example/b.jpg", "title": "圍巾", "text": "羊毛", "buttons": []},
            ]
        },
    )
    tab.goto(f"{base}/messaging/modules/")
    tab.wait_for_selector("[data-testid=module-table]")
    screenshot(f"messaging-modules-{suffix}")
    tab.goto(f"{base}/messaging/modules/{module.pk}/")
    tab.wait_for_selector("[data-testid=module-preview]")
    assert tab.input_value("input[name=cards-1-title]") == "圍巾"
    screenshot(f"messaging-module-{suffix}")
    tab.goto(f"{base}/messaging/modules/{module.pk}/delete/")
    tab.wait_for_selector("[data-testid=module-delete]")
    screenshot(f"messaging-module-delete-{suffix}")
    tab.click("[data-testid=module-delete] button[type=submit]")
    tab.wait_for_selector("[data-testid=module-table]")
    module.refresh_from_db()
    assert module.deleted_at is not None
    return tab.content()


def test_channels_conversation_keywords_modules_in_both_languages(logged_in, live_server, team, screenshot):  # noqa: F811
    content = _run(logged_in, live_server.url, team, screenshot, "zh")
    assert "機器人模組" in content
    logged_in.context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    content = _run(logged_in, live_server.url, team, screenshot, "en")
    assert "Chatbot module" in content and "Carousel" in content
