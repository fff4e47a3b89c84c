"""The inbox and the 訊息 menu in Debian's Chromium at 1440×900, in zh-Hant and English: the menu highlights the
messaging section, a new customer message appears without a reload, assignment is recorded, the connect form shows
only the chosen kind's fields, webhook URLs copy. Screenshots: screenshots/inbox-*.png, channels-*.png, menu-*.png."""

import os
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from cdp.models import Channel, Tag
from cdp.tests.factories import ChannelFactory, ContactFactory, CustomerTagFactory, TagFactory
from messaging.models import ConversationAssignment, InboundMessage
from messaging.services import inbox_state
from tests.browser.conftest import CHROMIUM, SCREENSHOTS, SKIP_REASON, browser, page, screenshot  # noqa: F401
from tests.factories import MembershipFactory

from .factories import ChatbotModuleFactory, OutboundMessageFactory

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=SKIP_REASON),
]


@pytest.fixture
def owner_tab(page, live_server, team):  # noqa: F811
    user = MembershipFactory(team=team, role="owner", user__first_name="Lin", user__last_name="Mei").user
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    page.set_viewport_size({"width": 1440, "height": 900})
    return page


def _wrote(contact, text, minutes_ago=0, kind="text"):
    message = InboundMessage.objects.create(
        team=contact.team,
        channel=contact.channel,
        contact=contact,
        kind=kind,
        text=text,
        occurred_at=timezone.now() - timedelta(minutes=minutes_ago),
    )
    inbox_state.record_inbound(inbox_state.latest_by_contact([message]))  # as the webhook batch does
    return message


def _conversations(team):
    line = ChannelFactory(team=team, kind="line", name="LINE 官方帳號", is_sandbox=True)
    fb = ChannelFactory(team=team, kind="facebook", name="FB 粉絲專頁", is_sandbox=True)
    module = ChatbotModuleFactory(
        team=team,
        name="春季新品",
        type="carousel",
        content={
            "cards": [
                {
                    "image_url": "/static/img/logo.svg",
                    "title": "輕量外套",
                    "text": "NT$1,980",
                    "buttons": [{"label": "立即購買", "url": "https://s.example/a"}],
                },
                {
                    "image_url": "/static/img/logo.svg",
                    "title": "羊毛圍巾",
                    "text": "NT$890",
                    "buttons": [{"label": "立即購買", "url": "https://s.example/b"}],
                },
            ]
        },
    )
    ming = ContactFactory(channel=line, display_name="王小明")
    for name in ("VIP", "春季活動"):
        tag = Tag.objects.filter(team=team, name=name).first() or TagFactory(team=team, name=name)
        CustomerTagFactory(customer=ming.customer, tag=tag)
    OutboundMessageFactory(
        contact=ming,
        content={"type": "module", "module_id": module.pk},
        status="read",
        origin="broadcast",
        preview="[輪播訊息] 春季新品",
        created_at=timezone.now() - timedelta(minutes=40),
        sent_at=timezone.now() - timedelta(minutes=40),
    )
    _wrote(ming, "立即購買", minutes_ago=30, kind="postback")
    _wrote(ming, "", minutes_ago=29, kind="image")
    _wrote(ming, "請問這件外套還有 M 號嗎？", minutes_ago=28)
    OutboundMessageFactory(
        contact=ming,
        content={"type": "text", "text": "有的！M 號還有 3 件，今天下單明天出貨。"},
        status="delivered",
        origin="agent",
        created_at=timezone.now() - timedelta(minutes=20),
        sent_at=timezone.now() - timedelta(minutes=20),
    )
    OutboundMessageFactory(
        contact=ming,
        content={"type": "module", "module_id": module.pk},
        status="failed",
        origin="journey",
        error_reason="demo failure",
        created_at=timezone.now() - timedelta(minutes=15),
    )
    others = []
    for n, (name, channel, text) in enumerate(
        [
            ("陳美玲", fb, "運費怎麼算？"),
            ("Jason Lee", line, "Do you ship to Hong Kong?"),
            ("林怡君", line, "我要取消訂單"),
            ("張志豪", fb, ""),
        ]
    ):
        contact = ContactFactory(channel=channel, display_name=name)
        _wrote(contact, text, minutes_ago=45 + 30 * n, kind="text" if text else "sticker")
        others.append(contact)
    return ming, others


def _inbox(tab, base, team, screenshot, lang):  # noqa: F811
    ming, others = _conversations(team)
    tab.goto(f"{base}/messaging/conversations/")
    tab.wait_for_selector("[data-testid=conversation-list]")
    # The menu: 訊息 and its inbox entry are highlighted, nothing else is.
    assert tab.locator("#sidebar a.active").evaluate_all("els => els.map(e => e.dataset.menu)") == [
        "messaging",
        "conversations",
    ]
    assert tab.locator("[data-testid=conversation-row][data-unread='1']").count() == 5
    tab.click(f"[data-contact='{ming.pk}'] a")
    tab.wait_for_selector("[data-testid=customer-pane]")
    assert tab.locator(f"[data-contact='{ming.pk}']").get_attribute("data-unread") == "0"
    html = tab.content()
    assert "demo failure" not in html and "[輪播訊息]" not in html and "輕量外套" in html and "VIP" in html
    # A new customer message shows up in the open thread and in the list without a reload.
    _wrote(ming, f"好，我要下單 {lang}")
    tab.wait_for_selector(f"#timeline :text('好，我要下單 {lang}')", timeout=12_000)
    tab.wait_for_selector(f"#inbox-list :text('好，我要下單 {lang}')", timeout=12_000)
    # Assign to self: recorded, shown in the history.
    tab.select_option("#assign select[name=assignee]", label="Lin Mei")
    tab.click("#assign button[type=submit]")
    tab.wait_for_selector("[data-testid=assign-history]")
    assert ConversationAssignment.objects.filter(conversation__contact=ming).count() == 1
    overflow = tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    screenshot(f"inbox-{lang}")
    tab.locator("#sidebar").screenshot(path=str(SCREENSHOTS / f"menu-{lang}.png"))
    # Filters: the channel filter narrows the list by itself (htmx), the search finds message text.
    tab.select_option("select[name=channel]", label="FB 粉絲專頁")
    tab.wait_for_function("document.querySelectorAll('[data-testid=conversation-row]').length === 2")
    tab.select_option("select[name=channel]", index=0)
    tab.fill("input[name=q]", "取消訂單")
    tab.wait_for_function("document.querySelectorAll('[data-testid=conversation-row]').length === 1")
    assert others[2].display_name in tab.inner_text("#inbox-list")
    return tab


def _channels(tab, base, screenshot, lang):  # noqa: F811
    tab.goto(f"{base}/messaging/")
    tab.wait_for_selector("[data-testid=connect-form]")
    assert tab.locator("#sidebar a.active").evaluate_all("els => els.map(e => e.dataset.menu)") == [
        "messaging",
        "channels",
    ]
    tab.select_option("select[name=kind]", "sms")
    assert tab.is_visible("[data-testid=kind-field-provider]")
    assert not tab.is_visible("[data-testid=kind-field-channel_secret]")
    username = tab.inner_text("[data-testid=kind-field-username] label").strip()
    assert username == {"zh": "三竹帳號", "en": "Mitake username"}[lang]  # never Instagram's label
    tab.locator("[data-testid=connect-form]").screenshot(path=str(SCREENSHOTS / f"channels-sms-{lang}.png"))
    tab.select_option("select[name=kind]", "instagram")
    assert tab.inner_text("[data-testid=kind-field-username] label").strip() in ("IG 使用者名稱", "Instagram username")
    tab.select_option("select[name=kind]", "line")
    assert tab.is_visible("[data-testid=kind-field-channel_secret]")
    assert not tab.is_visible("[data-testid=kind-field-provider]")
    first_copy = tab.locator("[data-testid=copy-button]").first
    first_copy.click()
    tab.wait_for_function("el => el.textContent === el.dataset.copied", arg=first_copy.element_handle())
    url_box = tab.locator("[data-testid=webhook-url]").first
    assert url_box.evaluate("el => el.scrollWidth <= el.closest('td').clientWidth + 1")
    assert tab.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    screenshot(f"channels-{lang}")


def test_inbox_menu_and_channels_in_both_languages(owner_tab, live_server, team, screenshot):  # noqa: F811
    tab = _inbox(owner_tab, live_server.url, team, screenshot, "zh")
    _channels(tab, live_server.url, screenshot, "zh")
    assert "即將推出" not in tab.inner_text("#sidebar")  # every module in the menu has landed
    Channel.objects.filter(team=team).delete()  # the English run starts from the same five conversations
    tab.context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    tab = _inbox(tab, live_server.url, team, screenshot, "en")
    _channels(tab, live_server.url, screenshot, "en")
    sidebar = tab.inner_text("#sidebar")
    assert "Messaging" in sidebar and "Inbox" in sidebar and "Coming soon" not in sidebar
