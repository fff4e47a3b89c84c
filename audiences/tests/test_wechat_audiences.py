"""WeChat audience packs and broadcasts: the pack counts receiving WeChat contacts (cdp's receiving_q), and a
WeChat broadcast is a template message (text and chatbot modules cannot go outside the 48-hour window), offered by
the console editor and the API and sent to WeChat's template/send (a local fake of WeChat's API)."""

import html
import re

import pytest
from django.urls import reverse

from audiences import services
from audiences.models import Broadcast, BroadcastRecipient
from audiences.services import AudienceError
from audiences.tests.factories import EVERYONE_BOUND_OR_NOT
from cdp.tests.factories import ChannelFactory, ContactFactory
from messaging.models import OutboundMessage
from messaging.services.outbox import dispatch
from messaging.tests import wechat_payloads as P
from messaging.tests.factories import ChatbotModuleFactory

pytestmark = pytest.mark.django_db

TEMPLATE = {"type": "wechat_template", "template_id": "TPL_ORDER", "data": {"first": "雙11 開跑"}}


@pytest.fixture
def wechat(team):
    return ChannelFactory(team=team, kind="wechat", is_sandbox=True)


def test_a_wechat_pack_counts_receiving_contacts(api, team, wechat):
    ContactFactory(channel=wechat)
    ContactFactory(channel=wechat, status="blocked")
    body = {"name": "WeChat 粉絲", "channel": wechat.pk, "conditions": EVERYONE_BOUND_OR_NOT}
    response = api.post("/api/v1/audiences", body, format="json")
    assert response.status_code == 201, response.content
    assert api.post(f"/api/v1/audiences/{response.json()['id']}/count").json()["count"] == 1


def test_a_wechat_broadcast_sends_template_messages_only(team, wechat):
    receiving = ContactFactory(channel=wechat)
    ContactFactory(channel=wechat, status="blocked")
    pack = services.create_pack(team=team, name="全部", channel=wechat, conditions=EVERYONE_BOUND_OR_NOT)
    for content in (
        {"type": "text", "text": "hi"},
        {"type": "module", "module_id": ChatbotModuleFactory(team=team).pk},
    ):
        with pytest.raises(AudienceError):
            services.create_broadcast(team=team, name="x", channel=wechat, content=content, pack=pack)
    broadcast = services.create_broadcast(team=team, name="雙11", channel=wechat, content=TEMPLATE, pack=pack)
    services.send_now(broadcast)
    services.send_all(broadcast.pk)
    assert set(BroadcastRecipient.objects.filter(broadcast=broadcast).values_list("contact_id", flat=True)) == {
        receiving.pk
    }
    dispatch()
    (message,) = OutboundMessage.objects.filter(origin="broadcast", origin_id=broadcast.pk)
    assert message.content == TEMPLATE and message.status in ("sent", "delivered")
    assert message.preview == "[TPL_ORDER] 雙11 開跑"


# ---------------------------------------------------------------- the console editor and the API, to WeChat's API


@pytest.fixture
def fake(settings):
    """A local fake of WeChat's API; the token cache emptied so each test fetches its own access token."""
    from django.core.cache import cache

    from messaging.tests.fake_wechat import FakeWeChat

    cache.clear()
    with FakeWeChat(app_id=P.APP_ID, app_secret=P.APP_SECRET) as server:
        settings.MESSAGING_WECHAT_API_BASE = server.url
        yield server


@pytest.fixture
def account(team):
    """A real (non-sandbox) WeChat channel: its sends go to the fake's template/send."""
    credentials = {"app_id": P.APP_ID, "app_secret": P.APP_SECRET, "token": P.TOKEN}
    return ChannelFactory(team=team, kind="wechat", external_id=P.APP_ID, credentials=credentials)


def _editor_post(channel, **extra):
    return {
        "name": "雙11",
        "channel": channel.pk,
        "content_type": "wechat_template",
        "wechat_template_id": "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY",
        "wechat_data": "first: 雙11 開跑\nkeyword1：全館 8 折\n\nremark: 回覆 TD 退訂",
        "wechat_url": "https://shop.example.com/1111",
        "action": "save",
        **extra,
    }


def test_the_editor_offers_the_wechat_template_on_wechat_channels_only(console, team, wechat):
    page = console.get(reverse("audiences:broadcast-new")).content.decode()
    assert 'value="wechat_template" data-kinds="wechat"' in page
    module = re.search(r'<option value="module" data-kinds="([^"]*)"', page).group(1).split()
    assert "wechat" not in module and "line" in module
    assert 'name="wechat_template_id"' in page and 'name="wechat_data"' in page and 'name="wechat_url"' in page


def test_the_editor_saves_a_wechat_template_broadcast_and_shows_it_back(console, team, wechat):
    response = console.post(reverse("audiences:broadcast-new"), _editor_post(wechat))
    assert response.status_code == 302, response.content.decode()[:2000]
    broadcast = Broadcast.objects.get(team=team)
    assert broadcast.content == {
        "type": "wechat_template",
        "template_id": "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY",
        "data": {"first": "雙11 開跑", "keyword1": "全館 8 折", "remark": "回覆 TD 退訂"},
        "url": "https://shop.example.com/1111",
    }
    page = console.get(reverse("audiences:broadcast-edit", args=[broadcast.pk])).content.decode()
    assert 'value="wechat_template" data-kinds="wechat" selected' in page
    shown = re.search(r'name="wechat_data"[^>]*>(.*?)</textarea>', page, re.S).group(1)
    # (PostgreSQL's jsonb keeps keys in its own order: the lines come back, not necessarily as typed)
    assert set(shown.split("\n")) == {"first: 雙11 開跑", "keyword1: 全館 8 折", "remark: 回覆 TD 退訂"}
    detail = console.get(reverse("audiences:broadcast", args=[broadcast.pk])).content.decode()
    assert 'data-testid="wechat-template-preview"' in detail and "全館 8 折" in detail
    preview = console.get(
        reverse("audiences:broadcast-content-preview"),
        {"content_type": "wechat_template", "wechat_template_id": "TPL", "wechat_data": "first: 早安"},
    ).content.decode()
    assert "TPL" in preview and "早安" in preview


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"wechat_template_id": ""}, "wechat_template_id", "請輸入 WeChat 模板 ID。"),
        ({"wechat_data": "first 沒有冒號"}, "wechat_data", "first 沒有冒號"),
        ({"wechat_url": "shop.example.com"}, "wechat_url", "連結必須以 http:// 或 https:// 開頭。"),
        ({"content_type": "module", "module_id": 999999}, "content_type", "此渠道無法發送機器人模組。"),
    ],
)
def test_bad_wechat_content_is_a_form_error_beside_its_field(console, team, wechat, changes, field, message):
    posted = _editor_post(wechat, **changes)
    response = console.post(reverse("audiences:broadcast-new"), posted)
    assert response.status_code == 400
    page = html.unescape(response.content.decode())
    assert not Broadcast.objects.exists()
    beside = re.search(rf'name="{field}"[^>]*>(.*?)</label>', page, re.S)
    assert beside and message in beside.group(1), page[:3000]
    assert f">{posted['wechat_data']}</textarea>" in page  # what was typed is kept


def test_a_wechat_template_on_another_channel_is_refused(console, team):
    line = ChannelFactory(team=team, kind="line", is_sandbox=True)
    response = console.post(reverse("audiences:broadcast-new"), _editor_post(line))
    assert response.status_code == 400 and "WeChat 模板訊息僅適用於 WeChat。" in response.content.decode()
    assert not Broadcast.objects.exists()


def test_api_broadcast_with_a_wechat_template_goes_out_through_template_send(api, team, account, fake):
    receiving = ContactFactory(team=team, channel=account, external_id=P.OPENID)
    pack = services.create_pack(team=team, name="全部", channel=account, conditions=EVERYONE_BOUND_OR_NOT)
    content = {**TEMPLATE, "data": {"first": "雙11 開跑", "keyword1": "全館 8 折"}, "url": "https://s.example.com/"}
    bad = [
        ({**content, "template_id": ""}, "content.template_id"),
        ({**content, "data": ["first"]}, "content.data"),
        ({**content, "data": {"first 名稱": "x"}}, "content.data"),
        ({**content, "url": "javascript:alert(1)"}, "content.url"),
        ({"type": "text", "text": "hi"}, "content.type"),
    ]
    for wrong, field in bad:
        body = {"name": "x", "channel": account.pk, "pack": pack.pk, "content": wrong}
        response = api.post("/api/v1/broadcasts", body, format="json")
        assert response.status_code == 400 and field in response.json()["error"]["fields"], (wrong, response.content)
    assert not Broadcast.objects.exists()
    body = {"name": "雙11", "channel": account.pk, "pack": pack.pk, "content": content}
    response = api.post("/api/v1/broadcasts", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["content"] == content
    broadcast_id = response.json()["id"]
    assert api.post(f"/api/v1/broadcasts/{broadcast_id}/send").status_code == 200
    services.send_all(broadcast_id)
    dispatch()
    (message,) = OutboundMessage.objects.filter(origin="broadcast", origin_id=broadcast_id)
    assert message.contact_id == receiving.pk and message.status == "sent", message.error_reason
    (send,) = fake.sends()
    assert send["path"] == "/cgi-bin/message/template/send"
    assert send["json"] == {
        "touser": P.OPENID,
        "template_id": "TPL_ORDER",
        "url": "https://s.example.com/",
        "data": {"first": {"value": "雙11 開跑"}, "keyword1": {"value": "全館 8 折"}},
    }
