"""Console pages and API routes: permissions, other teams' ids → 404, English page, CSV export."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from cdp.models import Channel
from cdp.tests.factories import ChannelFactory, ContactFactory
from messaging.models import InboundMessage, OutboundMessage
from messaging.services import inbox_state
from tests.factories import MembershipFactory, api_client_for

from .factories import ChatbotModuleFactory, KeywordRuleFactory, OutboundMessageFactory

pytestmark = pytest.mark.django_db


SECRET = "secret-Zq7-never-shown"  # distinctive: a short one can occur by chance in a CSRF token


def test_connect_a_line_channel_shows_webhook_url(console, team):
    response = console.post(reverse("messaging:index"), {"kind": "line", "name": "My OA", "external_id": "Ubot1"})
    assert response.status_code == 400 and "必填" in response.content.decode()
    response = console.post(
        reverse("messaging:index"),
        {"kind": "line", "name": "My OA", "external_id": "Ubot1", "channel_secret": SECRET, "access_token": "t"},
    )
    channel = team_channels(team).get()
    assert response.status_code == 302 and channel.credentials["channel_secret"] == SECRET
    page = console.get(reverse("messaging:channel", args=[channel.pk])).content.decode()
    assert f"/webhooks/line/{channel.pk}/" in page and SECRET not in page  # secrets never shown


def test_meta_channel_gets_a_verify_token_and_can_be_disabled(console, team):
    console.post(
        reverse("messaging:index"),
        {"kind": "facebook", "name": "Page", "external_id": "123", "app_secret": "a", "access_token": "t"},
    )
    channel = team_channels(team).get()
    token = channel.credentials["verify_token"]
    assert token in console.get(reverse("messaging:channel", args=[channel.pk])).content.decode()
    console.post(reverse("messaging:channel-toggle", args=[channel.pk]))
    channel.refresh_from_db()
    assert channel.status == "disabled"


def test_connect_an_sms_channel_in_the_console(console, team):
    """SMS channels are connected on the channel page like the others (issue 15): provider keys checked."""
    response = console.post(reverse("messaging:index"), {"kind": "sms", "name": "SMS", "provider": "twilio"})
    assert response.status_code == 400 and not team_channels(team).exists()
    response = console.post(
        reverse("messaging:index"),
        {"kind": "sms", "name": "SMS", "provider": "mitake", "username": "u", "password": SECRET},
    )
    channel = team_channels(team).get()
    assert response.status_code == 302 and channel.kind == "sms" and channel.credentials["password"] == SECRET
    page = console.get(reverse("messaging:channel", args=[channel.pk])).content.decode()
    assert f"/webhooks/sms/{channel.pk}/" in page and SECRET not in page
    assert "SMS" in console.get(reverse("messaging:index")).content.decode()


def team_channels(team):
    return Channel.objects.filter(team=team)


def test_sandbox_channel_test_connection(console, team):
    channel = ChannelFactory(team=team, kind="line", is_sandbox=True)
    response = console.post(reverse("messaging:channel-test", args=[channel.pk]), follow=True)
    assert "sandbox" in response.content.decode()


def test_other_teams_ids_are_404(console, other_team):
    channel = ChannelFactory(team=other_team, kind="line")
    contact = ContactFactory(channel=channel)
    rule = KeywordRuleFactory(team=other_team)
    for name, args in [
        ("messaging:channel", [channel.pk]),
        ("messaging:conversation", [contact.pk]),
        ("messaging:keyword", [rule.pk]),
    ]:
        assert console.get(reverse(name, args=args)).status_code == 404
    for name, args in [
        ("messaging:channel-test", [channel.pk]),
        ("messaging:channel-toggle", [channel.pk]),
        ("messaging:keyword-delete", [rule.pk]),
        ("messaging:conversation", [contact.pk]),
    ]:
        assert console.post(reverse(name, args=args), {"text": "x"}).status_code == 404
    channel.refresh_from_db()
    assert channel.status == "active"


def test_conversation_view_and_agent_reply(console, team):
    channel = ChannelFactory(team=team, kind="line", is_sandbox=True)
    contact = ContactFactory(channel=channel)
    InboundMessage.objects.create(
        team=team, channel=channel, contact=contact, text="請問營業時間？", occurred_at=timezone.now()
    )
    url = reverse("messaging:conversation", args=[contact.pk])
    assert "請問營業時間？" in console.get(url).content.decode()
    from django_q.conf import Conf

    response = console.post(url, {"text": "早上十點到晚上九點"})
    assert response.status_code == 302
    message = OutboundMessage.objects.get(contact=contact)
    assert message.origin == "agent" and message.content == {"type": "text", "text": "早上十點到晚上九點"}
    from messaging.services import outbox

    outbox.dispatch()
    contact.refresh_from_db()
    assert contact.last_team_interaction_at is not None
    assert Conf.SYNC
    page = console.get(url).content.decode()
    assert "早上十點到晚上九點" in page
    fragment = console.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in fragment and 'id="timeline"' in fragment


def test_conversation_export_roles(client, team):
    channel = ChannelFactory(team=team, kind="line")
    contact = ContactFactory(channel=channel, display_name="王小明")
    InboundMessage.objects.create(team=team, channel=channel, contact=contact, text="哈囉", occurred_at=timezone.now())
    OutboundMessageFactory(contact=contact, preview="回覆")
    url = reverse("messaging:conversation-export")
    today = timezone.localdate()
    params = {"start": (today - timedelta(days=1)).isoformat(), "end": (today + timedelta(days=1)).isoformat()}
    for role, expected in [("cs_manager", 200), ("sales_manager", 200), ("marketer", 403), ("agent", 403)]:
        user = MembershipFactory(team=team, role=role).user
        client.force_login(user)
        response = client.get(url, params)
        assert response.status_code == expected, role
        if expected == 200:
            body = b"".join(response.streaming_content).decode()
            assert "哈囉" in body and "王小明" in body and "回覆" in body
    too_long = {"start": "2024-01-01", "end": "2024-06-01"}
    assert client.get(url, too_long).status_code in (400, 403)


def test_keyword_rule_pages(console, team):
    channel = ChannelFactory(team=team, kind="line", credentials={"basic_id": "@shop"})
    response = console.post(
        reverse("messaging:keywords"),
        {
            "name": "優惠",
            "channel": channel.pk,
            "keywords": "優惠, 折扣",
            "match_type": "contains",
            "reply_text": "本月優惠",
            "tags": "VIP",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    rule = team.pk and __import__("messaging.models", fromlist=["KeywordRule"]).KeywordRule.objects.get(team=team)
    assert rule.keywords == ["優惠", "折扣"] and rule.join_token
    page = console.get(reverse("messaging:keyword", args=[rule.pk])).content.decode()
    assert "line.me/R/oaMessage/%40shop/" in page and "<svg" in page and "觸發次數" in page
    bad = console.post(reverse("messaging:keywords"), {"name": "x", "keywords": "", "match_type": "exact"})
    assert bad.status_code == 400


def test_channels_page_in_english(console, team):
    ChannelFactory(team=team, kind="line", name="Shop OA")
    response = console.get(reverse("messaging:index"), HTTP_ACCEPT_LANGUAGE="en")
    page = response.content.decode()
    assert "Connected channels" in page and "Connect a channel" in page


# ------------------------------------------------------------------------------------------------- API
def test_api_modules_validate_and_delete_records(api, team):
    bad = api.post(
        "/api/v1/chatbot-modules",
        {"name": "x", "type": "carousel", "content": {"cards": [{"title": "t"}]}},
        format="json",
    )
    assert bad.status_code == 400 and "content.cards[0].image_url" in bad.json()["error"]["fields"]
    ok = api.post(
        "/api/v1/chatbot-modules",
        {
            "name": "x",
            "type": "text_buttons",
            "content": {"text": "hi", "buttons": [{"label": "go", "url": "https://a.example"}]},
        },
        format="json",
    )
    assert ok.status_code == 201
    module_id = ok.json()["id"]
    assert api.delete(f"/api/v1/chatbot-modules/{module_id}").status_code == 204
    from messaging.models import ChatbotModule

    assert ChatbotModule.objects.get(pk=module_id).deleted_at is not None


def test_api_send_is_idempotent_and_team_scoped(api, other_api, team):
    channel = ChannelFactory(team=team, kind="line", is_sandbox=True)
    contact = ContactFactory(channel=channel)
    body = {"contact": contact.pk, "content": {"type": "text", "text": "hi"}, "idempotency_key": "order-1"}
    first = api.post("/api/v1/messages", body, format="json")
    again = api.post("/api/v1/messages", body, format="json")
    assert first.status_code == 201 and again.status_code == 200 and first.json()["id"] == again.json()["id"]
    assert other_api.post("/api/v1/messages", body, format="json").status_code == 400
    bad = api.post("/api/v1/messages", {**body, "content": {"type": "module", "module_id": 999}}, format="json")
    assert bad.status_code == 400 and "content.module_id" in bad.json()["error"]["fields"]
    stats = api.get("/api/v1/messages/stats").json()
    assert stats["recipients"] == 1


def test_api_keyword_rule_rejects_other_teams_channel(api, other_team):
    foreign = ChannelFactory(team=other_team, kind="line")
    response = api.post(
        "/api/v1/keyword-rules",
        {"name": "r", "keywords": ["a"], "channel": foreign.pk, "reply_text": "x"},
        format="json",
    )
    assert response.status_code == 400 and "channel" in response.json()["error"]["fields"]


def test_agent_key_cannot_manage_modules(team):
    client = api_client_for(team, role="agent")
    assert client.get("/api/v1/chatbot-modules").status_code == 403
    ChatbotModuleFactory(team=team)


@pytest.mark.parametrize(
    ("zone", "shown"), [("Asia/Taipei", "2024-05-01 22:05"), ("America/New_York", "2024-05-01 10:05")]
)
def test_conversation_times_are_in_the_team_time_zone(console, team, zone, shown):
    from datetime import UTC, datetime

    team.time_zone = zone
    team.save(update_fields=["time_zone"])
    at = datetime(2024, 5, 1, 14, 5, tzinfo=UTC)
    contact = ContactFactory(channel=ChannelFactory(team=team, kind="line"), last_customer_interaction_at=at)
    message = InboundMessage.objects.create(
        team=team, channel=contact.channel, contact=contact, external_id="m1", kind="text", text="hi", occurred_at=at
    )
    inbox_state.record_inbound(inbox_state.latest_by_contact([message]))  # as the webhook batch does
    OutboundMessageFactory(contact=contact, sent_at=at + timedelta(minutes=1), preview="hello")
    url = reverse("messaging:conversation", args=[contact.pk])
    for page in (console.get(url), console.get(url, headers={"HX-Request": "true"})):
        html = page.content.decode()
        assert f">{shown}</time>" in html and "14:05" not in html
        minute_later = shown[:-2] + "06"
        assert f">{minute_later}</time>" in html
    assert f"<dd>{shown}</dd>" in console.get(url).content.decode()  # last customer interaction
    assert f">{shown}</time>" in console.get(reverse("messaging:conversations")).content.decode()
