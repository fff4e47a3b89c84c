"""The seed-000 sources that came before issue 18, each from the platform's documented payload (signed, through
the webhook intake and the worker) or the website's events API, to the new-contact-sources figure: counted by the
incremental rollups as it happens, and the same after rebuild_analytics.

自然流量 (LINE follow), 關鍵字自動回覆 / 指派 (a keyword rule's words first), 優惠券模組 (a rule answering with a
coupon card, and a coupon binding), FB 廣告 → Messenger (an ad referral), FB 定期通知 (a notification_messages
opt-in), FB 廣告 → WhatsApp (a click-to-WhatsApp ad referral), 官網綁定 and 購物車再行銷 (the website's bindings)."""

import time

import pytest

from analytics import rollups, services
from analytics.services import today
from cdp.tests.factories import ChannelFactory
from messaging.models import ModuleType
from messaging.tests.factories import ChatbotModuleFactory, KeywordRuleFactory
from messaging.tests.fake_platform import FakePlatform
from messaging.tests.payloads import (
    LINE_SECRET,
    META_SECRET,
    line_body,
    line_event,
    line_text,
    meta_body,
    post_line,
    post_meta,
    wa_body,
    wa_change,
)

pytestmark = pytest.mark.django_db

PAGE_ID = "1234567890"
PHONE_NUMBER_ID = "106540352242922"


@pytest.fixture(autouse=True)
def _inline(monkeypatch, settings):
    """Tasks inline, as a worker runs them; the platforms' send APIs answered by a local fake."""
    from django_q.conf import Conf

    from messaging.services import channel_cache

    monkeypatch.setattr(Conf, "SYNC", True)
    channel_cache.clear()
    with FakePlatform() as server:
        settings.MESSAGING_LINE_API_BASE = server.url
        settings.MESSAGING_META_GRAPH_BASE = server.url + "/v21.0"
        settings.MESSAGING_WHATSAPP_API_BASE = server.url + "/v21.0"
        yield


def now_ms():
    return int(time.time() * 1000)


def figures(team):
    """This month's new-contact sources that are not zero, and the total."""
    data = services.contact_sources(team, today(team).replace(day=1))
    return {"total": data["total"], **{row["source"]: row["count"] for row in data["sources"] if row["count"]}}


def assert_counted(team, expected):
    assert figures(team) == expected  # the incremental rollups, written as the events were processed
    assert rollups.verify(team) == []
    rollups.rebuild(team)
    assert figures(team) == expected


def test_line_follow_keyword_and_coupon_rule(client, team, django_capture_on_commit_callbacks):
    line = ChannelFactory(team=team, kind="line", credentials={"channel_secret": LINE_SECRET, "access_token": "t"})
    KeywordRuleFactory(team=team, keywords=["會員"], reply_text="歡迎加入")
    coupon = ChatbotModuleFactory(
        team=team,
        type=ModuleType.COUPON_CARD,
        content={"title": "9 折", "text": "結帳輸入", "image_url": "https://s.example.com/c.png", "code": "SAVE10"},
    )
    KeywordRuleFactory(team=team, keywords=["優惠"], reply_text="", reply_module=coupon)
    ts = now_ms() - 10_000
    body = line_body(
        line_event("follow", user="U" + "1" * 32, ts=ts),
        line_text("會員", user="U" + "2" * 32, ts=ts + 1),
        line_text("優惠", user="U" + "3" * 32, ts=ts + 2),
        line_text("你好", user="U" + "4" * 32, ts=ts + 3),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert post_line(client, line, body).status_code == 200
    assert_counted(team, {"total": 4, "organic": 2, "keyword": 1, "coupon": 1})


def test_messenger_ad_referral_and_recurring_notification_optin(client, team, django_capture_on_commit_callbacks):
    page = ChannelFactory(
        team=team,
        kind="facebook",
        external_id=PAGE_ID,
        credentials={"app_secret": META_SECRET, "verify_token": "vt", "access_token": "page-token"},
    )
    ts = now_ms() - 10_000
    from_ad = {
        "sender": {"id": "6954321098765432"},
        "recipient": {"id": PAGE_ID},
        "timestamp": ts,
        "message": {
            "mid": "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM",
            "text": "我想問這個商品",
            "referral": {"ref": "", "ad_id": "6045246247433", "source": "ADS", "type": "OPEN_THREAD"},
        },
    }
    optin = {
        "sender": {"id": "6954321098765433"},
        "recipient": {"id": PAGE_ID},
        "timestamp": ts + 1,
        "optin": {
            "type": "notification_messages",
            "payload": "weekly",
            "notification_messages_token": "tok-1",
            "notification_messages_frequency": "WEEKLY",
            "token_expiry_timestamp": 1800000000000,
            "notification_messages_status": "RESUME_NOTIFICATIONS",
        },
    }
    with django_capture_on_commit_callbacks(execute=True):
        assert post_meta(client, page, meta_body("page", PAGE_ID, from_ad, optin)).status_code == 200
    assert_counted(team, {"total": 2, "fb_ad_messenger": 1, "fb_recurring_notification": 1})


def test_click_to_whatsapp_ad(client, team, django_capture_on_commit_callbacks):
    wa = ChannelFactory(
        team=team,
        kind="whatsapp",
        external_id=PHONE_NUMBER_ID,
        credentials={"app_secret": META_SECRET, "verify_token": "wa", "access_token": "w"},
    )
    message = {
        "from": "85291234567",
        "id": "wamid.HBgLODUyOTEyMzQ1NjcVAgASGBQzQTdCRDdFRjI2",
        "timestamp": str(int(time.time()) - 10),
        "type": "text",
        "text": {"body": "Is this still on sale?"},
        "referral": {
            "source_url": "https://fb.me/abc",
            "source_id": "120201234",
            "source_type": "ad",
            "headline": "Sale",
            "ctwa_clid": "ARAkLkA8rmlFeiCktEJQ",
        },
    }
    contacts = [{"profile": {"name": "Chan Tai Man"}, "wa_id": "85291234567"}]
    body = wa_body(wa_change(PHONE_NUMBER_ID, contacts=contacts, messages=[message]))
    with django_capture_on_commit_callbacks(execute=True):
        assert post_meta(client, wa, body, path="whatsapp").status_code == 200
    assert_counted(team, {"total": 1, "fb_ad_whatsapp": 1})


def test_website_bindings_that_create_the_contact(api, team, django_capture_on_commit_callbacks):
    line = ChannelFactory(team=team, kind="line", credentials={"channel_secret": "s", "access_token": "t"})

    def binding(n, method):
        data = {"channel": line.pk, "external_id": "U" + str(n) * 32, "member_id": f"M{n}", "method": method}
        return {"id": f"b{n}", "type": "binding", "data": data}

    events = [
        binding(1, "binding_plugin"),
        binding(2, "chatbot_to_website"),
        binding(3, "cart_remarketing"),
        binding(4, "coupon"),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/events", {"events": events}, format="json")
    assert response.status_code == 200 and response.json()["accepted"] == 4, response.content
    assert_counted(team, {"total": 4, "website_binding": 2, "cart_remarketing": 1, "coupon": 1})
