"""Webhooks in: signatures, dedup, and what processing does, with realistic payloads of every kind."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from cdp.models import Contact
from cdp.tests.factories import ChannelFactory, ContactFactory
from messaging.models import Conversation, InboundMessage, KeywordRule, OutboundMessage, WebhookEvent
from messaging.services import budgets

from .factories import KeywordRuleFactory, OutboundMessageFactory, WhatsAppTemplateFactory
from .payloads import (
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

U1 = "U4af4980629aaaaaaaaaaaaaaaaaaaaaa"


def ms(dt):
    return int(dt.timestamp() * 1000)


@pytest.fixture
def line(team):
    return ChannelFactory(team=team, kind="line", credentials={"channel_secret": LINE_SECRET, "access_token": "t"})


@pytest.fixture
def page(team):
    return ChannelFactory(
        team=team,
        kind="facebook",
        external_id="1234567890",
        credentials={"app_secret": META_SECRET, "verify_token": "vt-123", "access_token": "p"},
    )


@pytest.fixture
def ig(team):
    return ChannelFactory(
        team=team, kind="instagram", external_id="17841400000000", credentials={"app_secret": META_SECRET}
    )


@pytest.fixture
def wa(team):
    return ChannelFactory(
        team=team,
        kind="whatsapp",
        external_id="106540352242922",
        credentials={"app_secret": META_SECRET, "verify_token": "wa-vt", "access_token": "w"},
    )


# --------------------------------------------------------------------------------------------- LINE
def test_line_empty_events_is_the_verify_request(client, line):
    assert post_line(client, line, line_body()).status_code == 200
    assert WebhookEvent.objects.count() == 0


def test_line_forged_unknown_disabled_malformed_store_nothing(client, line, team):
    body = line_body(line_text("hi"))
    assert post_line(client, line, body, secret="wrong").status_code == 401
    assert client.post(f"/webhooks/line/{line.pk}/", data=body, content_type="application/json").status_code == 401
    assert client.post("/webhooks/line/999999/", data=body, content_type="application/json").status_code == 404
    assert post_line(client, line, b'{"events": [1]}').status_code == 400  # not events at all
    assert post_line(client, line, b'{"events": {"type": "message"}}').status_code == 400
    assert post_line(client, line, b"not json").status_code == 400
    line.status = "disabled"
    line.save()
    assert post_line(client, line, body).status_code == 404
    assert WebhookEvent.objects.count() == 0 and Contact.objects.count() == 0


def test_line_signature_header_is_case_insensitive(client, line):
    """The signature is checked whatever the header's case: the right one under a lower-case name is accepted,
    a wrong one under the same name is refused."""
    body = line_body(line_text("hi"))
    assert post_line(client, line, body, secret="not-the-secret", header="x-line-signature").status_code == 401
    assert Contact.objects.count() == 0
    assert post_line(client, line, body, header="x-line-signature").status_code == 200
    assert Contact.objects.count() == 1


def test_a_nul_character_typed_by_a_customer_is_kept_as_a_replacement_character(client, line):
    """A genuine signed delivery is never refused (it would be redelivered forever); PostgreSQL cannot store NUL."""
    assert post_line(client, line, line_body(line_text("hi\x00there"))).status_code == 200
    message = InboundMessage.objects.get(contact__external_id=U1)
    assert message.text == "hi\ufffdthere"
    assert "\x00" not in json.dumps(WebhookEvent.objects.get().payload)


def test_line_follow_message_unfollow_use_event_times(client, line):
    t_follow = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    follow = line_event("follow", ts=ms(t_follow), follow={"isUnblocked": False})
    message = line_text("你好", ts=ms(t_follow + timedelta(minutes=30)))
    # Delivered out of order: the message first, then the follow.
    assert post_line(client, line, line_body(message)).status_code == 200
    assert post_line(client, line, line_body(follow)).status_code == 200
    contact = Contact.objects.get(channel=line, external_id=U1)
    assert contact.created_at == t_follow
    assert contact.last_customer_interaction_at == t_follow + timedelta(minutes=30)
    assert contact.customer.last_customer_interaction_at == t_follow + timedelta(minutes=30)
    assert InboundMessage.objects.get(contact=contact).text == "你好"
    t_unfollow = t_follow + timedelta(days=1)
    post_line(client, line, line_body(line_event("unfollow", ts=ms(t_unfollow))))
    contact.refresh_from_db()
    assert contact.status == "blocked" and contact.status_changed_at == t_unfollow
    refollow = line_event("follow", ts=ms(t_unfollow + timedelta(hours=1)), follow={"isUnblocked": True})
    post_line(client, line, line_body(refollow))
    contact.refresh_from_db()
    assert contact.status == "subscribed" and contact.subscribed_at == t_unfollow + timedelta(hours=1)


def test_customer_messages_keep_the_inbox_conversation_times(client, line):
    """The webhook batch records the inbox's last message time on Conversation; a late, older one keeps it."""
    later = datetime(2024, 3, 1, 10, 30, tzinfo=UTC)
    assert post_line(client, line, line_body(line_text("第二則", ts=ms(later)))).status_code == 200
    earlier = line_text("第一則", ts=ms(later - timedelta(minutes=5)))
    assert post_line(client, line, line_body(earlier)).status_code == 200
    conversation = Conversation.objects.get(contact__external_id=U1)
    assert conversation.team_id == line.team_id
    assert conversation.last_inbound_at == later and conversation.last_message_at == later


def test_line_redelivery_is_processed_once(client, line):
    event = line_text("hello", ts=1700000000000, event_id="01FZ74A0TDDPYRVKNK77XKC3ZR")
    redelivered = {**event, "deliveryContext": {"isRedelivery": True}}
    post_line(client, line, line_body(event))
    post_line(client, line, line_body(redelivered))
    assert WebhookEvent.objects.count() == 1
    assert InboundMessage.objects.count() == 1


def test_line_postback_is_an_interaction(client, line):
    event = line_event("postback", ts=1700000000000, postback={"data": "action=buy&itemid=111"})
    post_line(client, line, line_body(event))
    message = InboundMessage.objects.get()
    assert message.kind == "postback" and message.text == "action=buy&itemid=111"
    assert message.contact.last_customer_interaction_at is not None


def test_customer_message_counts_replies_within_24h(client, line):
    contact = ContactFactory(channel=line, external_id=U1)
    now = datetime(2024, 3, 2, 12, 0, tzinfo=UTC)
    inside = OutboundMessageFactory(contact=contact, sent_at=now - timedelta(hours=23))
    outside = OutboundMessageFactory(contact=contact, sent_at=now - timedelta(hours=25))
    failed = OutboundMessageFactory(contact=contact, sent_at=None, status="failed")
    post_line(client, line, line_body(line_text("謝謝", ts=ms(now))))
    for message in (inside, outside, failed):
        message.refresh_from_db()
    assert inside.replied_at == now and outside.replied_at is None and failed.replied_at is None


def test_keyword_auto_reply_assign_and_source(client, line, team):
    rule = KeywordRuleFactory(team=team, keywords=["優惠"], assign_staff="Amy", assign_branch="台北店")
    t0 = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    follow = line_event("follow", ts=ms(t0), follow={"isUnblocked": False})
    post_line(client, line, line_body(follow, line_text("優惠", ts=ms(t0 + timedelta(seconds=20)))))
    contact = Contact.objects.get(channel=line)
    assert contact.source == "keyword" and contact.omo_staff == "Amy" and contact.omo_branch == "台北店"
    rule.refresh_from_db()
    assert rule.trigger_count == 1
    reply = OutboundMessage.objects.get(origin="auto_reply")
    assert reply.content == {"type": "text", "text": rule.reply_text} and reply.contact == contact
    post_line(client, line, line_body(line_text("沒有關鍵字", ts=ms(t0 + timedelta(minutes=1)))))
    assert KeywordRule.objects.get(pk=rule.pk).trigger_count == 1


# ---------------------------------------------------------------------------------- Messenger / IG
def test_meta_handshake(client, page):
    url = f"/webhooks/meta/{page.pk}/"
    ok = client.get(url, {"hub.mode": "subscribe", "hub.verify_token": "vt-123", "hub.challenge": "1158201444"})
    assert ok.status_code == 200 and ok.content == b"1158201444"
    bad = client.get(url, {"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"})
    assert bad.status_code == 403


def test_messenger_message_from_ad_referral(client, page):
    item = {
        "sender": {"id": "6954321098765432"},
        "recipient": {"id": "1234567890"},
        "timestamp": 1700000000000,
        "message": {
            "mid": "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P",
            "text": "我想問這個商品 😊",
            "referral": {"ref": "", "ad_id": "6045246247433", "source": "ADS", "type": "OPEN_THREAD"},
        },
    }
    body = meta_body("page", "1234567890", item)
    assert b"\\ud83d" in body  # signed as Meta sends it: escaped unicode, never re-serialised
    assert post_meta(client, page, body).status_code == 200
    assert post_meta(client, page, body).status_code == 200  # redelivered
    contact = Contact.objects.get(channel=page)
    assert contact.source == "fb_ad_messenger" and contact.source_detail == "6045246247433"
    assert InboundMessage.objects.get().text == "我想問這個商品 😊"
    assert post_meta(client, page, body, secret="forged").status_code == 401


def test_messenger_optin_stop_resume_and_watermarks(client, page):
    psid = "6954321098765432"
    contact = ContactFactory(channel=page, external_id=psid)
    sent_at = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    message = OutboundMessageFactory(contact=contact, sent_at=sent_at)

    def item(ts, **kw):
        return {"sender": {"id": psid}, "recipient": {"id": "1234567890"}, "timestamp": ts, **kw}

    optin = item(
        ms(sent_at),
        optin={
            "type": "notification_messages",
            "payload": "weekly",
            "notification_messages_token": "tok-1",
            "notification_messages_frequency": "WEEKLY",
            "token_expiry_timestamp": 1800000000000,
            "notification_messages_status": "RESUME_NOTIFICATIONS",
        },
    )
    post_meta(client, page, meta_body("page", "1234567890", optin))
    contact.refresh_from_db()
    assert contact.fb_recurring_optin and contact.fb_recurring_token == "tok-1"
    stop = item(
        ms(sent_at) + 1, optin={"type": "notification_messages", "notification_messages_status": "STOP_NOTIFICATIONS"}
    )
    post_meta(client, page, meta_body("page", "1234567890", stop))
    contact.refresh_from_db()
    assert not contact.fb_recurring_optin
    delivery = item(ms(sent_at) + 5000, delivery={"mids": ["m_x"], "watermark": ms(sent_at) + 4000})
    post_meta(client, page, meta_body("page", "1234567890", delivery))
    message.refresh_from_db()
    assert message.status == "delivered"
    read = item(ms(sent_at) + 9000, read={"watermark": ms(sent_at) + 8000})
    post_meta(client, page, meta_body("page", "1234567890", read))
    message.refresh_from_db()
    assert message.status == "read" and message.read_at is not None


def test_instagram_echo_is_not_customer_input(client, ig):
    echo = {
        "sender": {"id": "17841400000000"},
        "recipient": {"id": "5432109876543210"},
        "timestamp": 1700000000000,
        "message": {"mid": "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlE", "text": "thanks!", "is_echo": True},
    }
    incoming = {
        "sender": {"id": "5432109876543210"},
        "recipient": {"id": "17841400000000"},
        "timestamp": 1700000001000,
        "message": {"mid": "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlF", "text": "hi"},
    }
    assert post_meta(client, ig, meta_body("instagram", "17841400000000", echo, incoming)).status_code == 200
    assert list(InboundMessage.objects.values_list("text", flat=True)) == ["hi"]
    assert WebhookEvent.objects.filter(kind="echo").count() == 1


# ---------------------------------------------------------------------------------------- WhatsApp
def test_whatsapp_messages_every_entry_and_change(client, wa, team):
    other = ChannelFactory(team=team, kind="whatsapp", external_id="200000000000001", credentials={})
    ad_message = {
        "from": "85291234567",
        "id": "wamid.HBgLODUyOTEyMzQ1NjcVAgASGBQzQUFCMTIzNDU2Nzg5MEFCQ0RFRgA=",
        "timestamp": "1700000000",
        "type": "text",
        "text": {"body": "I saw your ad"},
        "referral": {
            "source_url": "https://fb.me/abc",
            "source_id": "120201234",
            "source_type": "ad",
            "headline": "Sale",
            "ctwa_clid": "ARAkLkA8rmlFeiCktEJQ",
        },
    }
    bsuid_message = {
        "from_user_id": "HK.1234567890abcdef",
        "id": "wamid.SECOND",
        "timestamp": "1700000005",
        "type": "text",
        "text": {"body": "hello"},
    }
    body = wa_body(
        wa_change(
            "106540352242922",
            contacts=[{"profile": {"name": "Chan Tai Man"}, "wa_id": "85291234567"}],
            messages=[ad_message],
        ),
        wa_change(
            "200000000000001",
            contacts=[{"profile": {"name": "Anon"}, "user_id": "HK.1234567890abcdef"}],
            messages=[bsuid_message],
        ),
    )
    assert post_meta(client, wa, body, path="whatsapp").status_code == 200
    first = Contact.objects.get(channel=wa)
    assert first.external_id == "+85291234567" and first.phone == "+85291234567"
    assert first.source == "fb_ad_whatsapp" and first.display_name == "Chan Tai Man"
    assert first.created_at == datetime.fromtimestamp(1700000000, tz=UTC)
    second = Contact.objects.get(channel=other)
    assert second.external_id == "HK.1234567890abcdef" and second.phone == "" and second.business_scoped_id
    assert post_meta(client, wa, body, path="whatsapp").status_code == 200
    assert InboundMessage.objects.count() == 2


def _status(wamid, status, ts, errors=None):
    item = {"id": wamid, "status": status, "timestamp": str(ts), "recipient_id": "85291234567"}
    if errors:
        item["errors"] = errors
    return item


def test_whatsapp_statuses_and_error_mapping(client, wa, team):
    contact = ContactFactory(channel=wa, external_id="+85291234567")
    template = WhatsAppTemplateFactory(channel=wa)
    sent = OutboundMessageFactory(contact=contact, provider_message_id="wamid.A")
    out_of_order = [_status("wamid.A", "read", 1700000100), _status("wamid.A", "delivered", 1700000050)]
    post_meta(client, wa, wa_body(wa_change("106540352242922", statuses=out_of_order)), path="whatsapp")
    sent.refresh_from_db()
    assert sent.status == "read" and sent.read_at and sent.delivered_at
    # 131042 payment → budget exhausted
    pay = OutboundMessageFactory(contact=contact, provider_message_id="wamid.B")
    err = [{"code": 131042, "title": "Business eligibility payment issue"}]
    post_meta(
        client,
        wa,
        wa_body(wa_change("106540352242922", statuses=[_status("wamid.B", "failed", 1700000200, err)])),
        path="whatsapp",
    )
    pay.refresh_from_db()
    assert pay.status == "failed" and pay.error_code == "131042" and budgets.is_exhausted(wa)
    # 132015 → template unusable
    OutboundMessageFactory(
        contact=contact,
        provider_message_id="wamid.C",
        content={"type": "whatsapp_template", "template_id": template.pk, "parameters": []},
    )
    err = [{"code": 132015, "title": "Template is paused"}]
    post_meta(
        client,
        wa,
        wa_body(wa_change("106540352242922", statuses=[_status("wamid.C", "failed", 1700000300, err)])),
        path="whatsapp",
    )
    template.refresh_from_db()
    assert template.status == "disabled" and "132015" in template.unusable_reason
    # 131050 → unsubscribed from marketing
    OutboundMessageFactory(contact=contact, provider_message_id="wamid.D")
    err = [{"code": 131050, "title": "User has stopped marketing messages"}]
    post_meta(
        client,
        wa,
        wa_body(wa_change("106540352242922", statuses=[_status("wamid.D", "failed", 1700000400, err)])),
        path="whatsapp",
    )
    contact.refresh_from_db()
    assert contact.unsubscribed_broadcast
    # 130429 → retry later
    rl = OutboundMessageFactory(contact=contact, provider_message_id="wamid.E", attempts=1)
    err = [{"code": 130429, "title": "Rate limit hit"}]
    post_meta(
        client,
        wa,
        wa_body(wa_change("106540352242922", statuses=[_status("wamid.E", "failed", 1700000500, err)])),
        path="whatsapp",
    )
    rl.refresh_from_db()
    assert rl.status == "queued"


def test_whatsapp_handshake_and_forgery(client, wa):
    url = f"/webhooks/whatsapp/{wa.pk}/"
    assert (
        client.get(url, {"hub.mode": "subscribe", "hub.verify_token": "wa-vt", "hub.challenge": "42"}).content == b"42"
    )
    body = wa_body(wa_change("106540352242922", messages=[]))
    assert post_meta(client, wa, body, secret="x", path="whatsapp").status_code == 401
    assert (
        post_meta(client, wa, json.dumps({"object": "page", "entry": []}).encode(), path="whatsapp").status_code == 400
    )
