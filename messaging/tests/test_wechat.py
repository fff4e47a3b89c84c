"""WeChat Official Account end to end: connect, URL verification, plaintext and 安全模式 POSTs in the documented
XML format, processing (OpenID contacts, sources, conversations, keyword rules and QR scenes), and sending
through a local fake of WeChat's API (Customer Service Messages, template messages, the shared access token)."""

import threading
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.utils import timezone

from cdp.models import Contact
from cdp.tests.factories import ChannelFactory, ContactFactory
from messaging import policy
from messaging.models import InboundMessage, KeywordRule, OutboundMessage, WebhookEvent, WeChatAccessToken
from messaging.services import outbox, wechat, wechat_tokens
from messaging.services.wechat_events import keyword_scene

from . import wechat_payloads as P
from .factories import KeywordRuleFactory
from .fake_wechat import FakeWeChat

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(settings):
    with FakeWeChat(app_id=P.APP_ID, app_secret=P.APP_SECRET) as server:
        settings.MESSAGING_WECHAT_API_BASE = server.url
        yield server


@pytest.fixture(autouse=True)
def _no_shared_token():
    from django.core.cache import cache

    cache.clear()


CREDENTIALS = {"app_id": P.APP_ID, "app_secret": P.APP_SECRET, "token": P.TOKEN, "original_id": P.ORIGINAL_ID}


@pytest.fixture
def plain(team):
    # (the same AppID as `safe`, which the recorded vector needs; external_id differs so both can exist)
    return ChannelFactory(team=team, kind="wechat", external_id="wx-plain", credentials=dict(CREDENTIALS))


@pytest.fixture
def safe(team):
    credentials = {**CREDENTIALS, "encoding_aes_key": P.AES_KEY}
    return ChannelFactory(team=team, kind="wechat", external_id=P.APP_ID, credentials=credentials)


def _ok(response):
    assert response.status_code == 200, response.content
    assert response.content == b"success"


# ------------------------------------------------------------------------------------------- connecting
def test_connect_through_the_api_gives_the_webhook_url(api):
    body = {"kind": "wechat", "name": "服務號", "credentials": {**CREDENTIALS, "encoding_aes_key": P.AES_KEY}}
    response = api.post("/api/v1/channels", body, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["webhook_url"].endswith(f"/webhooks/wechat/{data['id']}/")
    assert data["external_id"] == P.APP_ID and "credentials" not in data


@pytest.mark.parametrize(
    "credentials, field",
    [
        ({"app_id": P.APP_ID, "app_secret": "x"}, "credentials.token"),
        ({"app_secret": "x", "token": "t"}, "credentials.app_id"),
        (
            {"app_id": P.APP_ID, "app_secret": "x", "token": "t", "encoding_aes_key": "short"},
            "credentials.encoding_aes_key",
        ),
    ],
)
def test_connect_refuses_missing_or_bad_credentials(api, credentials, field):
    response = api.post("/api/v1/channels", {"kind": "wechat", "name": "W", "credentials": credentials}, format="json")
    assert response.status_code == 400
    assert field in str(response.json())


# -------------------------------------------------------------------------------------- URL verification
def test_url_verification_echoes_echostr_only_when_signed(client, plain):
    params = {**P.query(), "echostr": "5837397520665436492"}
    response = client.get(f"/webhooks/wechat/{plain.pk}/?{urlencode(params)}")
    assert response.status_code == 200 and response.content == b"5837397520665436492"
    forged = {**params, "signature": "0" * 40}
    assert client.get(f"/webhooks/wechat/{plain.pk}/?{urlencode(forged)}").status_code == 403
    assert client.get(f"/webhooks/wechat/999999/?{urlencode(params)}").status_code == 404


# ----------------------------------------------------------------------------- plaintext, end to end
def test_plaintext_subscribe_message_and_keyword_reply_through_the_fake(client, fake, plain, team):
    rule = KeywordRuleFactory(team=team, keywords=["優惠"], reply_text="本月優惠 8 折")
    _ok(P.post(client, plain, P.event("subscribe")))
    contact = Contact.objects.get(channel=plain, external_id=P.OPENID)
    assert contact.source == "organic" and contact.status == "subscribed"  # 「Wechat 收到新訊息」: 自然流量
    _ok(P.post(client, plain, P.text("優惠", "1000000001")))
    inbound = InboundMessage.objects.get(contact=contact)
    assert (inbound.kind, inbound.text, inbound.external_id) == ("text", "優惠", "1000000001")
    rule.refresh_from_db()
    assert rule.trigger_count == 1
    assert outbox.dispatch() == 1
    reply = OutboundMessage.objects.get(origin="auto_reply", origin_id=str(rule.pk))
    assert reply.status == "sent"
    (send,) = fake.sends()
    assert send["path"] == "/cgi-bin/message/custom/send"
    assert send["json"] == {"touser": P.OPENID, "msgtype": "text", "text": {"content": "本月優惠 8 折"}}
    assert FakeWeChat.params(send)["access_token"] == "ACCESS_TOKEN_1" and fake.tokens_issued == 1


def test_an_every_channel_rule_answering_with_a_module_answers_wechat_with_its_text_or_not_at_all(client, plain, team):
    """WeChat takes no chatbot modules: a rule for every channel answers there with its reply text if it has one,
    and otherwise sends nothing (never a send that can only fail)."""
    from .factories import ChatbotModuleFactory

    module = ChatbotModuleFactory(team=team)
    with_text = KeywordRuleFactory(team=team, keywords=["優惠"], reply_module=module, reply_text="本月優惠 8 折")
    without = KeywordRuleFactory(team=team, keywords=["會員"], reply_module=module, reply_text="")
    _ok(P.post(client, plain, P.text("優惠", "1000000071")))
    _ok(P.post(client, plain, P.text("會員", "1000000072")))
    with_text.refresh_from_db()
    without.refresh_from_db()
    assert with_text.trigger_count == without.trigger_count == 1
    (reply,) = OutboundMessage.objects.filter(origin="auto_reply")
    assert reply.origin_id == str(with_text.pk) and reply.content == {"type": "text", "text": "本月優惠 8 折"}


def test_every_message_kind_and_menu_event_reaches_the_conversation(client, plain):
    for body in (
        P.image("2001"),
        P.voice("2002"),
        P.location("2003"),
        P.link("2004"),
        P.event("CLICK", EventKey="MENU_PROMO"),
        P.event("VIEW", at=P.now() + 1, EventKey="https://shop.example.com/menu"),
    ):
        _ok(P.post(client, plain, body))
    got = sorted(InboundMessage.objects.values_list("kind", "text"))
    assert got == [
        ("image", "http://mmbiz.qpic.cn/mmbiz_jpg/abc/0"),
        ("link", "新品 https://shop.example.com/new"),
        ("location", "台北101 (25.033, 121.5654)"),
        ("postback", "MENU_PROMO"),
        ("view", "https://shop.example.com/menu"),
        ("voice", "我要優惠"),
    ]
    contact = Contact.objects.get(channel=plain)
    assert contact.last_customer_interaction_at is not None


def test_redeliveries_are_stored_once(client, plain):
    at = P.now()
    for _ in range(3):
        _ok(P.post(client, plain, P.text("hi", "3001", at=at)))
        _ok(P.post(client, plain, P.event("subscribe", at=at)))
    assert WebhookEvent.objects.filter(channel=plain).count() == 2
    assert InboundMessage.objects.count() == 1


def test_unsubscribe_blocks_and_subscribe_again_returns(client, plain):
    at = P.now()
    _ok(P.post(client, plain, P.event("subscribe", at=at - 20)))
    _ok(P.post(client, plain, P.event("unsubscribe", at=at - 10)))
    assert Contact.objects.get(channel=plain).status == "blocked"
    _ok(P.post(client, plain, P.event("subscribe", at=at)))
    assert Contact.objects.get(channel=plain).status == "subscribed"


def test_unionid_is_kept_beside_the_openid(client, plain):
    _ok(P.post(client, plain, P.event("subscribe", UnionId="o6_bmasdasdsad6_2sgVt7hMZOPfL")))
    contact = Contact.objects.get(channel=plain)
    assert contact.external_id == P.OPENID and contact.business_scoped_id == "o6_bmasdasdsad6_2sgVt7hMZOPfL"


# ------------------------------------------------------------------------------------------- 安全模式
def test_safe_mode_recorded_message_decrypts_and_is_processed(client, safe):
    url = f"/webhooks/wechat/{safe.pk}/?{urlencode(P.VECTOR_C_QUERY)}"
    _ok(client.post(url, data=P.VECTOR_C_BODY.encode(), content_type="text/xml"))
    contact = Contact.objects.get(channel=safe, external_id=P.OPENID)
    inbound = InboundMessage.objects.get(contact=contact)
    assert (inbound.text, inbound.external_id) == ("abcdteT", "6054768590064713728")


def test_encryption_matches_wechats_known_answer():
    v = P.VECTOR_A
    assert wechat.encrypt(P.AES_KEY, v["app_id"], v["text"], random=v["random"]) == v["cipher"]
    assert wechat.decrypt(P.AES_KEY, v["app_id"], v["cipher"]).decode() == v["text"]


def test_safe_mode_subscribe_through_a_keyword_qr_scene(client, fake, safe, team):
    rule = KeywordRuleFactory(team=team, channel=safe, keywords=["會員"], reply_text="歡迎加入會員")
    scene = keyword_scene(rule)
    _ok(P.post(client, safe, P.event("subscribe", EventKey=f"qrscene_{scene}", Ticket="TICKET"), encrypted=True))
    contact = Contact.objects.get(channel=safe)
    assert (contact.source, contact.source_detail) == ("keyword", f"rule:{rule.pk}")
    assert KeywordRule.objects.get(pk=rule.pk).trigger_count == 1
    # A follower scanning the same code again (SCAN, scene without the prefix) triggers the rule again.
    _ok(P.post(client, safe, P.event("SCAN", at=P.now() + 1, EventKey=scene, Ticket="TICKET"), encrypted=True))
    assert KeywordRule.objects.get(pk=rule.pk).trigger_count == 2
    assert outbox.dispatch() == 2
    assert [s["json"]["text"]["content"] for s in fake.sends()] == ["歡迎加入會員", "歡迎加入會員"]


def test_scan_without_a_rule_scene_is_organic(client, safe):
    _ok(P.post(client, safe, P.event("SCAN", EventKey="123123", Ticket="T"), encrypted=True))
    assert Contact.objects.get(channel=safe).source == "organic"


# ------------------------------------------------------------------------------------- forged requests
def test_forged_or_malformed_requests_store_nothing(client, plain, safe):
    assert P.post(client, plain, P.text("hi", "1"), token="wrong").status_code == 401
    assert P.post(client, safe, P.text("hi", "2"), encrypted=True, token="wrong").status_code == 401
    assert P.post(client, safe, P.text("hi", "3"), encrypted=True, app_id="wx_other").status_code == 401
    other_key = "B" * 43
    assert P.post(client, safe, P.text("hi", "4"), encrypted=True, aes_key=other_key).status_code == 401
    doctype = '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Content>&e;</Content></xml>'
    assert P.post(client, plain, doctype).status_code == 400
    assert P.post(client, plain, "<xml><oops").status_code == 400
    no_signature = client.post(f"/webhooks/wechat/{plain.pk}/", data=P.text("hi", "5"), content_type="text/xml")
    assert no_signature.status_code == 401
    assert WebhookEvent.objects.count() == 0


def test_another_accounts_message_is_rejected_not_processed(client, plain):
    xml = P.text("hi", "6").replace(P.ORIGINAL_ID, "gh_someone_else")
    _ok(P.post(client, plain, xml))
    (row,) = WebhookEvent.objects.all()
    assert row.state == "rejected" and "ToUserName" in row.error
    assert not Contact.objects.exists()


# ------------------------------------------------------------------------------------------------ sending
def _send(team, channel, contact, content, key):
    message, _ = outbox.enqueue(
        team=team, channel=channel, contact=contact, content=content, origin="agent", origin_id="1", idempotency_key=key
    )
    outbox.dispatch()
    message.refresh_from_db()
    return message


def test_template_message_goes_to_template_send(fake, plain, team):
    contact = ContactFactory(team=team, channel=plain, external_id=P.OPENID)
    content = {
        "type": "wechat_template",
        "template_id": "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY",
        "data": {"first": "訂單已出貨", "remark": "謝謝"},
        "url": "https://shop.example.com/o/1",
    }
    message = _send(team, plain, contact, content, "tpl-1")
    assert message.status == "sent" and message.provider_message_id == "200228332"
    (send,) = fake.sends()
    assert send["path"] == "/cgi-bin/message/template/send"
    assert send["json"] == {
        "touser": P.OPENID,
        "template_id": "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY",
        "url": "https://shop.example.com/o/1",
        "data": {"first": {"value": "訂單已出貨"}, "remark": {"value": "謝謝"}},
    }


def test_invalid_token_is_refreshed_once_and_the_send_retried(fake, plain, team):
    contact = ContactFactory(team=team, channel=plain, external_id=P.OPENID)
    assert _send(team, plain, contact, {"type": "text", "text": "one"}, "t-1").status == "sent"
    fake.current = "ROTATED_ELSEWHERE"  # WeChat no longer accepts ACCESS_TOKEN_1
    assert _send(team, plain, contact, {"type": "text", "text": "two"}, "t-2").status == "sent"
    assert fake.tokens_issued == 2
    assert [FakeWeChat.params(r)["access_token"] for r in fake.requests if "message" in r["path"]] == [
        "ACCESS_TOKEN_1",
        "ACCESS_TOKEN_1",
        "ACCESS_TOKEN_2",
    ]
    fake.current = "ALWAYS_WRONG"
    fake.route("GET", "/cgi-bin/token", lambda r: (200, {"access_token": "STILL_BAD", "expires_in": 7200}, {}))
    failed = _send(team, plain, contact, {"type": "text", "text": "three"}, "t-3")
    assert failed.status == "failed" and failed.error_code == "40001"  # one refresh, one retry, then give up


def test_token_is_shared_and_refreshed_before_expiry(fake, plain, settings):
    fetch = lambda: ("T-NEW", 7200)  # noqa: E731
    WeChatAccessToken.objects.create(
        team=plain.team, channel=plain, secret={"access_token": "T-OLD"}, expires_at=timezone.now() + timedelta(hours=1)
    )
    assert wechat_tokens.access_token(plain, fetch) == "T-OLD"  # from the row, then the shared cache
    assert wechat_tokens.access_token(plain, lambda: pytest.fail("fetched again")) == "T-OLD"
    wechat_tokens.forget(plain)
    WeChatAccessToken.objects.filter(channel=plain).update(expires_at=timezone.now() + timedelta(seconds=200))
    assert wechat_tokens.access_token(plain, fetch) == "T-NEW"  # inside the 300 s margin: fetched again
    row = WeChatAccessToken.objects.get(channel=plain)
    assert row.secret == {"access_token": "T-NEW"} and row.expires_at > timezone.now() + timedelta(hours=1)


def test_token_errors_fail_the_send_with_wechats_message(fake, plain, team):
    fake.app_secret = "rotated"
    contact = ContactFactory(team=team, channel=plain, external_id=P.OPENID)
    message = _send(team, plain, contact, {"type": "text", "text": "x"}, "e-1")
    assert message.status == "failed" and message.error_code == "token:40125"


def test_customer_service_window_is_48_hours(plain, team):
    now = timezone.now()
    contact = ContactFactory(team=team, channel=plain, last_customer_interaction_at=now - timedelta(hours=47))
    text = {"type": "text", "text": "hi"}
    template = {"type": "wechat_template", "template_id": "T", "data": {}}
    assert policy.check_send(contact=contact, content=text, now=now).action == "send"
    contact.last_customer_interaction_at = now - timedelta(hours=49)
    assert policy.check_send(contact=contact, content=text, now=now).reason == "needs a template"
    assert policy.check_send(contact=contact, content=template, now=now).action == "send"


def test_sandbox_wechat_channel_sends_without_network(team):
    channel = ChannelFactory(team=team, kind="wechat", is_sandbox=True, credentials={})
    contact = ContactFactory(team=team, channel=channel)
    assert _send(team, channel, contact, {"type": "text", "text": "hi"}, "sb-1").status in ("sent", "delivered")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_fetch_one_token(fake, team):
    channel = ChannelFactory(team=team, kind="wechat", external_id=P.APP_ID, credentials=dict(CREDENTIALS))
    from messaging.adapters import get_adapter

    got, errors = [], []

    def worker():
        try:
            adapter = get_adapter(channel)
            got.append(wechat_tokens.access_token(channel, adapter.fetch_token))
        except Exception as exc:  # noqa: BLE001 (reported below: a thread's failure must fail the test)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert got == ["ACCESS_TOKEN_1"] * 6 and fake.tokens_issued == 1


# ------------------------------------------------------------------------------------------------ console
def test_console_connects_a_wechat_channel_and_shows_its_webhook(console, team):
    data = {
        "kind": "wechat",
        "name": "WeChat 服務號",
        "external_id": P.APP_ID,
        "app_secret": P.APP_SECRET,
        "token": P.TOKEN,
        "encoding_aes_key": P.AES_KEY,
    }
    response = console.post("/messaging/", data)
    assert response.status_code == 302, response.content.decode()[-2000:]
    from cdp.models import Channel

    channel = Channel.objects.get(team=team, kind="wechat")
    assert channel.external_id == P.APP_ID and channel.credentials["encoding_aes_key"] == P.AES_KEY
    page = console.get(f"/messaging/channels/{channel.pk}/").content.decode()
    assert f"/webhooks/wechat/{channel.pk}/" in page and 'data-testid="wechat-mode"' in page
    assert "WeChat 服務號" in console.get("/messaging/").content.decode()
    bad = console.post("/messaging/", {**data, "name": "x", "external_id": "wx-2", "encoding_aes_key": "short"})
    assert bad.status_code == 400 and "EncodingAESKey" in bad.content.decode()


def test_keyword_rule_gets_a_wechat_qr_code_whose_scan_is_the_keyword_source(client, console, fake, plain, team):
    rule = KeywordRuleFactory(team=team, channel=plain, keywords=["會員"], reply_text="歡迎")
    response = console.post(f"/messaging/keywords/{rule.pk}/wechat-qr/")
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.wechat_qr_url == f"http://weixin.qq.com/q/{keyword_scene(rule)}"
    (create,) = [r for r in fake.requests if r["path"] == "/cgi-bin/qrcode/create"]
    assert create["json"] == {
        "action_name": "QR_LIMIT_STR_SCENE",
        "action_info": {"scene": {"scene_str": keyword_scene(rule)}},
    }
    page = console.get(f"/messaging/keywords/{rule.pk}/").content.decode()
    assert 'data-testid="qr"' in page and rule.wechat_qr_url in page
    _ok(P.post(client, plain, P.event("subscribe", EventKey=f"qrscene_{keyword_scene(rule)}")))
    assert Contact.objects.get(channel=plain).source_detail == f"rule:{rule.pk}"
    assert "1" in console.get(f"/messaging/keywords/{rule.pk}/").content.decode()


def test_keyword_rules_offer_wechat_channels(console, plain, team):
    page = console.get("/messaging/keywords/").content.decode()
    assert f'value="{plain.pk}"' in page


def test_a_wechat_keyword_rule_cannot_answer_with_a_chatbot_module(console, api, plain, team):
    """WeChat takes no chatbot modules (content's check_sendable): the console form and the API refuse one."""
    from .factories import ChatbotModuleFactory

    module = ChatbotModuleFactory(team=team)
    form = {"name": "會員", "channel": plain.pk, "keywords": "會員", "match_type": "exact", "reply_module": module.pk}
    response = console.post("/messaging/keywords/", {**form, "is_active": "on"})
    assert response.status_code == 400 and "此渠道無法發送機器人模組" in response.content.decode()
    body = {"name": "會員", "channel": plain.pk, "keywords": ["會員"], "reply_module": module.pk}
    answer = api.post("/api/v1/keyword-rules", body, format="json")
    assert answer.status_code == 400 and "reply_module" in answer.json()["error"]["fields"], answer.content
    assert not KeywordRule.objects.exists()
    rule = KeywordRuleFactory(team=team, channel=plain)
    patched = api.patch(f"/api/v1/keyword-rules/{rule.pk}", {"reply_module": module.pk}, format="json")
    assert patched.status_code == 400
    line = ChannelFactory(team=team, kind="line", is_sandbox=True)
    ok = api.post("/api/v1/keyword-rules", {**body, "channel": line.pk}, format="json")
    assert ok.status_code == 201, ok.content


def test_a_customer_may_type_xml_like_text(client, plain):
    _ok(P.post(client, plain, P.text("<!-- hi --> <!DOCTYPE 笑>", "7001")))
    assert InboundMessage.objects.get().text == "<!-- hi --> <!DOCTYPE 笑>"


def test_template_send_job_finish_marks_the_send(client, fake, plain, team):
    contact = ContactFactory(team=team, channel=plain, external_id=P.OPENID)
    content = {"type": "wechat_template", "template_id": "TPL", "data": {"first": "hi"}}
    message = _send(team, plain, contact, content, "tpl-finish")
    assert message.provider_message_id == "200228332"
    finish = P.event("TEMPLATESENDJOBFINISH", MsgID=200228332, Status="success")
    _ok(P.post(client, plain, finish))
    message.refresh_from_db()
    assert message.status == "delivered" and message.delivered_at is not None
    other = _send(team, plain, contact, {**content, "data": {"first": "again"}}, "tpl-finish-2")
    OutboundMessage.objects.filter(pk=other.pk).update(provider_message_id="200228333")
    blocked = P.event("TEMPLATESENDJOBFINISH", at=P.now() + 1, MsgID=200228333, Status="failed:user block")
    _ok(P.post(client, plain, blocked))
    other.refresh_from_db()
    assert other.status == "failed" and other.error_reason == "failed:user block"


def test_the_conversation_shows_wechat_messages_and_the_agent_reply_goes_out(client, console, fake, plain, team):
    _ok(P.post(client, plain, P.text("請問有貨嗎", "8001")))
    contact = Contact.objects.get(channel=plain)
    assert f"/messaging/conversations/{contact.pk}/" in console.get("/messaging/conversations/").content.decode()
    assert "請問有貨嗎" in console.get(f"/messaging/conversations/{contact.pk}/").content.decode()
    response = console.post(f"/messaging/conversations/{contact.pk}/", {"text": "有的"})
    assert response.status_code in (200, 302)
    outbox.dispatch()
    (send,) = fake.sends()
    assert send["json"] == {"touser": P.OPENID, "msgtype": "text", "text": {"content": "有的"}}
