"""LINE auto-replies through the free reply API, Messenger recurring notifications, keyword rules that tag
and assign — each against the local fake platform server where a platform call is involved."""

from datetime import timedelta

import pytest
from django.utils import timezone

from cdp.models import Contact, CustomerEvent, CustomerTag
from cdp.tests.factories import ChannelFactory, ContactFactory
from messaging.models import KeywordRule, OutboundMessage, WebhookEvent
from messaging.services import outbox

from .factories import KeywordRuleFactory
from .fake_platform import FakePlatform
from .payloads import LINE_SECRET, line_body, line_text, post_line

pytestmark = pytest.mark.django_db

U1 = "U4af4980629aaaaaaaaaaaaaaaaaaaaaa"


@pytest.fixture
def fake(settings):
    with FakePlatform() as server:
        settings.MESSAGING_LINE_API_BASE = server.url
        settings.MESSAGING_META_GRAPH_BASE = server.url + "/v21.0"
        server.route("POST", "/v2/bot/message/push", server.line_push)
        server.route("POST", "/v2/bot/message/reply", server.line_reply)
        yield server


@pytest.fixture
def line(team):
    return ChannelFactory(team=team, kind="line", credentials={"channel_secret": LINE_SECRET, "access_token": "t"})


def _keyword_message(fake, token, ts_ms):
    event = line_text("優惠", ts=ts_ms)
    event["replyToken"] = fake.issue_reply_token(token)
    return event


# ------------------------------------------------------------------------------------ LINE reply token
def test_line_auto_reply_uses_the_reply_api_while_the_token_is_valid(client, fake, line, team):
    rule = KeywordRuleFactory(team=team, keywords=["優惠"], reply_text="本月優惠 8 折")
    now_ms = int(timezone.now().timestamp() * 1000)
    assert post_line(client, line, line_body(_keyword_message(fake, "tok-fresh", now_ms))).status_code == 200
    assert outbox.dispatch() == 1  # (the on-commit dispatch hint does not fire inside a test transaction)
    reply = OutboundMessage.objects.get(origin="auto_reply", origin_id=str(rule.pk))
    assert reply.status == "sent" and reply.cost == 0  # the reply API is free
    (request,) = [r for r in fake.requests if r["path"] == "/v2/bot/message/reply"]
    assert request["json"] == {"replyToken": "tok-fresh", "messages": [{"type": "text", "text": "本月優惠 8 折"}]}
    assert not [r for r in fake.requests if r["path"] == "/v2/bot/message/push"]


def test_line_auto_reply_pushes_once_the_token_has_expired(client, fake, line, team):
    KeywordRuleFactory(team=team, keywords=["優惠"], reply_text="本月優惠")
    now_ms = int(timezone.now().timestamp() * 1000)
    # The event is processed now but the send waits in a backlog past the token's minute.
    post_line(client, line, line_body(_keyword_message(fake, "tok-old", now_ms)))
    reply = OutboundMessage.objects.get(origin="auto_reply")
    received = WebhookEvent.objects.get().received_at
    assert reply.reply_token == "tok-old"
    assert received < reply.reply_token_expires_at <= received + timedelta(seconds=60)
    OutboundMessage.objects.filter(pk=reply.pk).update(reply_token_expires_at=timezone.now() - timedelta(seconds=1))
    outbox.dispatch()
    (push,) = fake.requests
    assert push["path"] == "/v2/bot/message/push" and push["json"]["to"] == U1
    assert push["headers"]["x-line-retry-key"] == str(reply.retry_key)
    reply.refresh_from_db()
    assert reply.status == "sent" and reply.cost == team.line_message_cost


def test_line_invalid_reply_token_falls_back_to_push(client, fake, line, team):
    KeywordRuleFactory(team=team, keywords=["優惠"], reply_text="本月優惠")
    now_ms = int(timezone.now().timestamp() * 1000)
    event = line_text("優惠", ts=now_ms)
    event["replyToken"] = "never-issued"  # LINE answers 400 Invalid reply token
    post_line(client, line, line_body(event))
    outbox.dispatch()
    assert [r["path"] for r in fake.requests] == ["/v2/bot/message/reply", "/v2/bot/message/push"]
    reply = OutboundMessage.objects.get(origin="auto_reply")
    assert reply.status == "sent" and reply.cost == team.line_message_cost


def test_line_reply_consumed_before_a_crash_is_not_sent_again(fake, line, team):
    """The worker replied, then died before recording it; the re-attempt finds the token used: sent, no push."""
    contact = ContactFactory(channel=line, external_id=U1)
    message, _ = outbox.enqueue(
        team=team,
        channel=line,
        contact=contact,
        content={"type": "text", "text": "hi"},
        origin="auto_reply",
        origin_id="1",
        idempotency_key="kw:1:x",
        reply_token=fake.issue_reply_token("tok-once"),
        reply_token_expires_at=timezone.now() + timedelta(seconds=50),
    )
    from messaging.adapters import get_adapter
    from messaging.services.content import render

    (claimed,) = outbox.claim()
    get_adapter(line).reply(reply_token="tok-once", payload=render(claimed, "line").payload)  # ... crash
    later = timezone.now() + timedelta(minutes=10)
    outbox.sweep(now=later)
    outbox.dispatch(now=later)
    message.refresh_from_db()
    assert message.status == "sent"
    assert len(fake.delivered("/v2/bot/message/reply")) == 1 and not fake.delivered()


# ------------------------------------------------------------------------ Messenger recurring notifications
@pytest.fixture
def page(team):
    return ChannelFactory(team=team, kind="facebook", external_id="1234567890", credentials={"access_token": "PAT"})


def _send_text(team, page, contact, key):
    message, _ = outbox.enqueue(
        team=team,
        channel=page,
        contact=contact,
        content={"type": "text", "text": "新品通知"},
        origin="journey",
        origin_id="n1",
        idempotency_key=key,
    )
    assert outbox.dispatch() == 1
    return message


def test_messenger_outside_window_uses_the_recurring_notification_token(fake, team, page):
    fake.route(
        "POST", "/v21.0/1234567890/messages", lambda r: (200, {"recipient_id": "PSID9", "message_id": "m_9"}, {})
    )
    contact = ContactFactory(
        channel=page,
        external_id="PSID9",
        last_customer_interaction_at=timezone.now() - timedelta(days=3),
        fb_recurring_optin=True,
        fb_recurring_token="6586547001938475583",
    )
    message = _send_text(team, page, contact, "rn:1")
    (request,) = fake.requests
    assert request["json"] == {
        "recipient": {"notification_messages_token": "6586547001938475583"},
        "message": {"text": "新品通知"},
    }
    message.refresh_from_db()
    assert message.status == "sent" and message.provider_message_id == "m_9"


def test_messenger_inside_window_is_a_response_to_the_psid(fake, team, page):
    fake.route("POST", "/v21.0/1234567890/messages", lambda r: (200, {"message_id": "m_1"}, {}))
    contact = ContactFactory(
        channel=page,
        external_id="PSID1",
        last_customer_interaction_at=timezone.now() - timedelta(hours=2),
        fb_recurring_optin=True,
        fb_recurring_token="tok",
    )
    _send_text(team, page, contact, "rn:2")
    (request,) = fake.requests
    assert request["json"]["recipient"] == {"id": "PSID1"} and request["json"]["messaging_type"] == "RESPONSE"


# ------------------------------------------------------------------------------ keyword rules: tags, assign
def test_keyword_rule_adds_tags_and_assigns_staff_and_branch(client, line, team, settings):
    settings.MESSAGING_LINE_API_BASE = "http://127.0.0.1:9"  # the reply is not what this test is about
    rule = KeywordRuleFactory(
        team=team,
        keywords=["會員"],
        match_type="contains",
        reply_text="",
        assign_staff="王小美",
        assign_branch="信義店",
        tags=["VIP", "關鍵字名單"],
    )
    now_ms = int(timezone.now().timestamp() * 1000)
    assert post_line(client, line, line_body(line_text("我想加入會員", ts=now_ms))).status_code == 200
    contact = Contact.objects.get(channel=line, external_id=U1)
    assert (contact.omo_staff, contact.omo_branch) == ("王小美", "信義店")
    tags = CustomerTag.objects.filter(customer=contact.customer).select_related("tag")
    assert sorted(t.tag.name for t in tags) == ["VIP", "關鍵字名單"]
    assert {t.source for t in tags} == {"keyword"} and {t.channel_id for t in tags} == {line.pk}
    events = CustomerEvent.objects.filter(customer=contact.customer, type="tag_added")
    assert sorted(e.data["tag"] for e in events) == ["VIP", "關鍵字名單"]
    assert not OutboundMessage.objects.exists()  # no reply content: nothing sent
    # A second matching message counts the rule again but does not add the tags twice.
    post_line(client, line, line_body(line_text("會員點數", ts=now_ms + 1000)))
    assert KeywordRule.objects.get(pk=rule.pk).trigger_count == 2
    assert CustomerTag.objects.filter(customer=contact.customer).count() == 2
    assert CustomerEvent.objects.filter(customer=contact.customer, type="tag_added").count() == 2


def test_inactive_or_other_channel_rules_do_nothing(client, line, team):
    other = ChannelFactory(team=team, kind="line")
    KeywordRuleFactory(team=team, keywords=["會員"], tags=["VIP"], assign_staff="A", is_active=False)
    KeywordRuleFactory(team=team, keywords=["會員"], tags=["VIP"], assign_staff="B", channel=other)
    post_line(client, line, line_body(line_text("會員", ts=int(timezone.now().timestamp() * 1000))))
    contact = Contact.objects.get(channel=line)
    assert contact.omo_staff == "" and not CustomerTag.objects.exists()
