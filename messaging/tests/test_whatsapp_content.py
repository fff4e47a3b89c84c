"""Chatbot modules on WhatsApp: rendered to the Cloud API's interactive messages, sent through the outbox to
the local fake server (which refuses what WhatsApp would refuse), and only inside the 24-hour window."""

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from cdp.tests.factories import ChannelFactory, ContactFactory
from messaging import policy
from messaging.services import outbox
from messaging.services.content import validate_module_content
from messaging.services.tracking_urls import parse_token

from .factories import ChatbotModuleFactory
from .fake_platform import FakePlatform, whatsapp_problem

pytestmark = pytest.mark.django_db

PHONE_ID = "106540352242922"
IMG = "https://cdn.example.com/a.jpg"
PHONES = itertools.count(1234567)


@pytest.fixture
def fake(settings):
    with FakePlatform() as server:
        settings.MESSAGING_WHATSAPP_API_BASE = server.url + "/v21.0"
        server.route("POST", f"/v21.0/{PHONE_ID}/messages", server.whatsapp_messages)
        yield server


@pytest.fixture
def wa(team):
    return ChannelFactory(team=team, kind="whatsapp", external_id=PHONE_ID, credentials={"access_token": "WAT"})


def send_module(fake, team, wa, module_type, content):
    """Enqueue a module to a contact who wrote an hour ago and dispatch it; returns (message, interactive or
    the whole body WhatsApp accepted)."""
    validate_module_content(module_type, content)
    module = ChatbotModuleFactory(team=team, type=module_type, content=content, name="春季活動")
    phone = f"8529{next(PHONES):07d}"
    contact = ContactFactory(
        channel=wa, external_id=f"+{phone}", last_customer_interaction_at=timezone.now() - timedelta(hours=1)
    )
    module_content = {"type": "module", "module_id": module.pk}
    assert policy.check_send(contact=contact, content=module_content, now=timezone.now()).action == "send"
    message, _ = outbox.enqueue(
        team=team,
        channel=wa,
        contact=contact,
        content=module_content,
        origin="journey",
        origin_id="n1",
        idempotency_key=f"wa:{module.pk}",
    )
    assert outbox.dispatch() == 1
    message.refresh_from_db()
    request = fake.requests[-1]
    assert request["status"] == 200, request
    assert request["headers"]["authorization"] == "Bearer WAT" and request["json"]["to"] == phone
    assert message.status == "sent" and message.provider_message_id.startswith("wamid.")
    body = request["json"]
    return message, body.get("interactive") or body


def clicked(message, url):
    """The tracked link points back at this send and the module's target."""
    index = parse_token(url.rsplit("/", 1)[1])
    assert index is not None and index[0] == message.pk
    return message.links["urls"][index[1]]


def test_text_with_postback_buttons_is_reply_buttons(fake, team, wa):
    buttons = [{"label": "要", "data": "yes"}, {"label": "不要", "data": "no"}, {"label": "稍後", "data": "later"}]
    message, interactive = send_module(fake, team, wa, "text_buttons", {"text": "要參加嗎？", "buttons": buttons})
    assert interactive["type"] == "button" and interactive["body"]["text"] == "要參加嗎？"
    assert [b["reply"] for b in interactive["action"]["buttons"]] == [
        {"id": "yes", "title": "要"},
        {"id": "no", "title": "不要"},
        {"id": "later", "title": "稍後"},
    ]


def test_four_postback_buttons_become_a_list(fake, team, wa):
    buttons = [{"label": f"選項{i}", "data": f"d{i}"} for i in range(4)]
    _, interactive = send_module(fake, team, wa, "text_buttons", {"text": "請選擇", "buttons": buttons})
    assert interactive["type"] == "list"
    assert [r["id"] for r in interactive["action"]["sections"][0]["rows"]] == ["d0", "d1", "d2", "d3"]


def test_link_buttons_are_a_cta_url_and_tracked_lines(fake, team, wa):
    buttons = [{"label": "立即購買", "url": "https://shop.example.com/a"}, {"label": "門市", "url": "https://x.tw/s"}]
    message, interactive = send_module(fake, team, wa, "text_buttons", {"text": "新品上市", "buttons": buttons})
    assert interactive["type"] == "cta_url"
    params = interactive["action"]["parameters"]
    assert params["display_text"] == "立即購買" and clicked(message, params["url"]) == "https://shop.example.com/a"
    second = interactive["body"]["text"].split("門市: ", 1)[1]
    assert interactive["body"]["text"].startswith("新品上市\n") and clicked(message, second) == "https://x.tw/s"


def test_carousel_with_a_link_per_card_is_an_interactive_carousel(fake, team, wa):
    cards = [
        {
            "image_url": IMG,
            "title": f"商品 {i}",
            "text": "限時",
            "buttons": [{"label": "看看", "url": f"https://s.tw/{i}"}],
        }
        for i in range(3)
    ]
    message, interactive = send_module(fake, team, wa, "carousel", {"cards": cards})
    assert interactive["type"] == "carousel" and interactive["body"]["text"] == "春季活動"
    sent = interactive["action"]["cards"]
    assert [c["card_index"] for c in sent] == [0, 1, 2] and sent[1]["body"]["text"] == "商品 1\n限時"
    assert sent[2]["header"]["image"]["link"] == IMG
    assert clicked(message, sent[2]["action"]["parameters"]["url"]) == "https://s.tw/2"
    assert not message.trackable  # WhatsApp opens are read statuses, not pixels


def test_carousel_with_quick_replies_and_an_uneven_one(fake, team, wa):
    cards = [
        {"image_url": IMG, "title": f"T{i}", "buttons": [{"label": "選這個", "data": f"pick={i}"}]} for i in range(2)
    ]
    _, interactive = send_module(fake, team, wa, "carousel", {"cards": cards})
    assert interactive["type"] == "carousel"
    assert interactive["action"]["cards"][1]["action"]["buttons"][0]["quick_reply"]["id"] == "pick=1"
    # Uneven buttons break WhatsApp's carousel rule: the first card as a message, the others' links listed.
    cards[1]["buttons"] = [{"label": "官網", "url": "https://s.tw/1"}]
    message, interactive = send_module(fake, team, wa, "carousel", {"cards": cards})
    assert interactive["type"] == "button" and interactive["header"]["image"]["link"] == IMG
    assert interactive["action"]["buttons"][0]["reply"]["id"] == "pick=0"
    assert clicked(message, interactive["body"]["text"].split("官網: ", 1)[1]) == "https://s.tw/1"


def test_image_carousel_image_map_and_coupon(fake, team, wa):
    cards = [{"image_url": IMG, "button": {"label": "看看", "url": f"https://s.tw/{i}"}} for i in range(2)]
    _, interactive = send_module(fake, team, wa, "image_carousel", {"cards": cards})
    assert interactive["type"] == "carousel" and len(interactive["action"]["cards"]) == 2
    # Image-carousel cards without links: the first image, its caption listing the links.
    cards[1] = {"image_url": IMG}
    _, body = send_module(fake, team, wa, "image_carousel", {"cards": cards})
    assert body["type"] == "image" and body["image"]["link"] == IMG and "看看: " in body["image"]["caption"]

    areas = [{"x": 0, "y": 0, "width": 520, "height": 1040, "url": f"https://s.tw/{s}"} for s in ("L", "R")]
    content = {"image_url": IMG, "alt_text": "春季型錄", "areas": areas}
    message, interactive = send_module(fake, team, wa, "image_map", content)
    assert interactive["type"] == "cta_url" and interactive["header"]["image"]["link"] == IMG
    assert clicked(message, interactive["action"]["parameters"]["url"]) == "https://s.tw/L"
    assert clicked(message, interactive["body"]["text"].split("2. ", 1)[1]) == "https://s.tw/R"

    coupon = {"title": "九折券", "text": "全館適用", "code": "SPRING10", "image_url": IMG}
    coupon["button"] = {"label": "使用", "url": "https://s.tw/use"}
    message, interactive = send_module(fake, team, wa, "coupon_card", coupon)
    assert interactive["type"] == "cta_url" and interactive["header"]["image"]["link"] == IMG
    assert "SPRING10" in interactive["body"]["text"] and "九折券" in interactive["body"]["text"]
    del coupon["button"]
    _, body = send_module(fake, team, wa, "coupon_card", coupon)
    assert body["type"] == "image" and "SPRING10" in body["image"]["caption"]


def test_outside_the_window_only_templates(team, wa):
    now = timezone.now()
    stale = ContactFactory(channel=wa, last_customer_interaction_at=now - timedelta(hours=24, minutes=1))
    never = ContactFactory(channel=wa, last_customer_interaction_at=None)
    module = ChatbotModuleFactory(team=team)
    for contact in (stale, never):
        for content in ({"type": "module", "module_id": module.pk}, {"type": "text", "text": "hi"}):
            decision = policy.check_send(contact=contact, content=content, now=now)
            assert (decision.action, decision.reason) == ("skip", "needs a template")
        template = {"type": "whatsapp_template", "template_id": 1}
        assert policy.check_send(contact=contact, content=template, now=now).action == "send"


def test_the_fake_refuses_what_whatsapp_refuses():
    """The fake's checks are real: bodies WhatsApp rejects are rejected here too."""
    base = {"messaging_product": "whatsapp", "to": "85291234567", "type": "interactive"}
    reply = [{"type": "reply", "reply": {"id": f"b{i}", "title": "ok"}} for i in range(4)]
    four = {**base, "interactive": {"type": "button", "body": {"text": "x"}, "action": {"buttons": reply}}}
    assert whatsapp_problem(four)
    assert not whatsapp_problem({**four, "interactive": {**four["interactive"], "action": {"buttons": reply[:3]}}})
    card = {"card_index": 0, "type": "cta_url", "header": {"type": "image", "image": {"link": IMG}}}
    card["action"] = {"name": "cta_url", "parameters": {"display_text": "go", "url": "https://a.tw"}}
    one_card = {**base, "interactive": {"type": "carousel", "body": {"text": "x"}, "action": {"cards": [card]}}}
    assert whatsapp_problem(one_card)
    long_title = {"name": "cta_url", "parameters": {"display_text": "x" * 21, "url": "https://a.tw"}}
    assert whatsapp_problem({**base, "interactive": {"type": "cta_url", "body": {"text": "x"}, "action": long_title}})
