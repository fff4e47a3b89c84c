"""Each real adapter against a local fake server that checks what the platform would receive."""

import logging
import uuid

import pytest
from django.utils import timezone

from cdp.tests.factories import ChannelFactory, ContactFactory
from messaging.adapters import BUDGET, PERMANENT, RETRYABLE, TEMPLATE, get_adapter
from messaging.models import OutboundMessage
from messaging.services import budgets, outbox, templates
from messaging.services.tracking_urls import parse_token

from .factories import ChatbotModuleFactory, WhatsAppTemplateFactory
from .fake_platform import FakePlatform

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(settings):
    with FakePlatform() as server:
        settings.MESSAGING_LINE_API_BASE = server.url
        settings.MESSAGING_META_GRAPH_BASE = server.url + "/v21.0"
        settings.MESSAGING_INSTAGRAM_API_BASE = server.url + "/ig/v21.0"
        settings.MESSAGING_WHATSAPP_API_BASE = server.url + "/v21.0"
        yield server


@pytest.fixture
def line(team):
    return ChannelFactory(team=team, kind="line", credentials={"access_token": "LINE-TOKEN", "channel_secret": "s"})


def test_line_push_module_with_retry_key_and_tracking(fake, team, line):
    fake.route("POST", "/v2/bot/message/push", fake.line_push)
    module = ChatbotModuleFactory(team=team)
    contact = ContactFactory(channel=line, external_id="U1234")
    message, _ = outbox.enqueue(
        team=team,
        channel=line,
        contact=contact,
        content={"type": "module", "module_id": module.pk},
        origin="journey",
        origin_id="n1",
        idempotency_key="j:1",
    )
    assert outbox.dispatch() == 1
    request = fake.requests[-1]
    assert request["headers"]["authorization"] == "Bearer LINE-TOKEN"
    assert request["headers"]["x-line-retry-key"] == str(message.retry_key)
    assert request["json"]["to"] == "U1234"
    flex = request["json"]["messages"][0]
    assert flex["type"] == "flex" and flex["contents"]["type"] == "bubble"
    uri = flex["contents"]["footer"]["contents"][0]["action"]["uri"]
    assert "/r/" in uri and parse_token(uri.rsplit("/", 1)[1])[:2] == (message.pk, 0)
    message.refresh_from_db()
    assert message.status == "sent" and message.trackable and message.links["urls"] == ["https://shop.example.com/new"]


def test_line_crash_after_send_is_not_duplicated(fake, team, line):
    """The provider accepted the push, the worker died before recording it: the re-send is deduplicated."""
    fake.route("POST", "/v2/bot/message/push", fake.line_push)
    contact = ContactFactory(channel=line)
    message, _ = outbox.enqueue(
        team=team,
        channel=line,
        contact=contact,
        content={"type": "text", "text": "hi"},
        origin="broadcast",
        origin_id="1",
        idempotency_key="b:1:x",
    )
    (claimed,) = outbox.claim()
    from messaging.services.content import render

    get_adapter(line).send(
        recipient=contact.external_id, payload=render(claimed, "line").payload, retry_key=claimed.retry_key
    )
    # ... crash: no outcome recorded. The claim expires; the sweeper re-queues; another worker sends again.
    later = timezone.now() + timezone.timedelta(minutes=10)
    outbox.sweep(now=later)
    outbox.dispatch(now=later)
    message.refresh_from_db()
    assert message.status == "sent"
    assert len(fake.accepted_retry_keys) == 1  # LINE accepted exactly one message
    assert [r["headers"]["x-line-retry-key"] for r in fake.requests] == [str(message.retry_key)] * 2


def test_line_monthly_limit_vs_rate_limit(fake, team, line):
    fake.route("POST", "/v2/bot/message/push", lambda r: (429, {"message": "Too many requests"}, {}))
    adapter = get_adapter(line)
    payload = {"messages": [{"type": "text", "text": "x"}]}
    assert adapter.send(recipient="U1", payload=payload, retry_key=uuid.uuid4()).error_kind == RETRYABLE
    fake.route("POST", "/v2/bot/message/push", lambda r: (429, {"message": "You have reached your monthly limit."}, {}))
    result = adapter.send(recipient="U1", payload=payload, retry_key=uuid.uuid4())
    assert result.error_kind == BUDGET
    fake.route(
        "POST",
        "/v2/bot/message/push",
        lambda r: (
            400,
            {
                "message": "The request body has 1 error(s)",
                "details": [{"message": "May not be empty", "property": "messages[0].text"}],
            },
            {},
        ),
    )
    result = adapter.send(recipient="U1", payload=payload, retry_key=uuid.uuid4())
    assert result.error_kind == PERMANENT and "messages[0].text" in result.error_reason


def test_line_monthly_limit_through_the_outbox_exhausts_the_budget(fake, team, line):
    fake.route("POST", "/v2/bot/message/push", lambda r: (429, {"message": "You have reached your monthly limit."}, {}))
    contacts = [ContactFactory(channel=line) for _ in range(2)]
    for i, contact in enumerate(contacts):
        outbox.enqueue(
            team=team,
            channel=line,
            contact=contact,
            content={"type": "module", "module_id": ChatbotModuleFactory(team=team).pk},
            origin="journey",
            origin_id="n",
            idempotency_key=f"k{i}",
        )
    outbox.dispatch()
    assert budgets.is_exhausted(line)
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {"failed"}
    assert len(fake.requests) == 1  # the second was not even attempted


def test_line_multicast_and_quota(fake, team, line):
    fake.route("POST", "/v2/bot/message/multicast", fake.line_push)
    fake.route("GET", "/v2/bot/message/quota", lambda r: (200, {"type": "limited", "value": 1000}, {}))
    fake.route("GET", "/v2/bot/message/quota/consumption", lambda r: (200, {"totalUsage": 1000}, {}))
    contacts = [ContactFactory(channel=line) for _ in range(3)]
    outbox.enqueue_many(
        team=team,
        channel=line,
        contacts_or_ids=contacts,
        content={"type": "text", "text": "週年慶"},
        origin="broadcast",
        origin_id="9",
        key_prefix="b:9",
    )
    outbox.dispatch()
    (request,) = fake.requests
    assert request["path"] == "/v2/bot/message/multicast" and sorted(request["json"]["to"]) == sorted(
        c.external_id for c in contacts
    )
    assert request["headers"]["x-line-retry-key"]
    assert OutboundMessage.objects.filter(status="sent").count() == 3
    assert budgets.refresh_line_quota(line) == (1000, 1000)
    assert budgets.is_exhausted(line)


def test_sends_to_one_platform_reuse_one_pooled_connection(settings, team, line):
    """Issue 22.13: every send opened a new urllib connection; the pooled client keeps one alive per host."""
    with FakePlatform(keep_alive=True) as platform:
        settings.MESSAGING_LINE_API_BASE = platform.url
        platform.route("POST", "/v2/bot/message/push", platform.line_push)
        platform.route("GET", "/v2/bot/info", lambda r: (200, {"displayName": "OA", "basicId": "@oa"}, {}))
        adapter = get_adapter(line)
        payload = {"messages": [{"type": "text", "text": "hi"}]}
        first = adapter.send(recipient="U1", payload=payload, retry_key=uuid.uuid4())
        second = adapter.send(recipient="U2", payload=payload, retry_key=uuid.uuid4())
        assert adapter.test_connection() == (True, "OA @oa")
    assert first.ok and second.ok and first.extra["request_id"] != second.extra["request_id"]
    assert len(platform.requests) == 3 and platform.connections == 1


def test_messenger_send_api(fake, team):
    page = ChannelFactory(team=team, kind="facebook", external_id="1234567890", credentials={"access_token": "PAT"})
    fake.route(
        "POST", "/v21.0/1234567890/messages", lambda r: (200, {"recipient_id": "PSID1", "message_id": "m_1"}, {})
    )
    module = ChatbotModuleFactory(
        team=team,
        type="carousel",
        content={
            "cards": [
                {
                    "image_url": "https://img.example/1.jpg",
                    "title": "A",
                    "text": "a",
                    "buttons": [{"label": "買", "url": "https://s.example/a"}],
                }
            ]
        },
    )
    contact = ContactFactory(channel=page, external_id="PSID1", last_customer_interaction_at=timezone.now())
    message, _ = outbox.enqueue(
        team=team,
        channel=page,
        contact=contact,
        content={"type": "module", "module_id": module.pk},
        origin="agent",
        origin_id="",
        idempotency_key="a1",
    )
    outbox.dispatch()
    request = fake.requests[-1]
    assert request["headers"]["authorization"] == "Bearer PAT" and "PAT" not in request["query"]
    assert request["json"]["recipient"] == {"id": "PSID1"}
    element = request["json"]["message"]["attachment"]["payload"]["elements"][0]
    assert element["buttons"][0]["type"] == "web_url" and "/r/" in element["buttons"][0]["url"]
    message.refresh_from_db()
    assert message.status == "sent" and message.provider_message_id == "m_1"
    fake.route(
        "POST",
        "/v21.0/1234567890/messages",
        lambda r: (400, {"error": {"message": "(#551) This person isn't available right now.", "code": 551}}, {}),
    )
    result = get_adapter(page).send(recipient="PSID1", payload={"message": {"text": "x"}}, retry_key=None)
    assert result.error_kind == PERMANENT and "551" in result.error_code
    fake.route(
        "POST",
        "/v21.0/1234567890/messages",
        lambda r: (400, {"error": {"message": "Calls to this api have exceeded the rate limit.", "code": 613}}, {}),
    )
    assert (
        get_adapter(page).send(recipient="PSID1", payload={"message": {"text": "x"}}, retry_key=None).error_kind
        == RETRYABLE
    )


def test_instagram_send(fake, team):
    ig = ChannelFactory(team=team, kind="instagram", external_id="17841400000000", credentials={"access_token": "IGT"})
    fake.route(
        "POST", "/ig/v21.0/17841400000000/messages", lambda r: (200, {"recipient_id": "IG1", "message_id": "aWdf"}, {})
    )
    result = get_adapter(ig).send(recipient="IG1", payload={"message": {"text": "hello"}}, retry_key=None)
    assert result.ok and result.provider_message_id == "aWdf"
    request = fake.requests[-1]
    assert request["headers"]["authorization"] == "Bearer IGT"
    assert request["json"] == {"recipient": {"id": "IG1"}, "message": {"text": "hello"}}


def test_whatsapp_template_send_and_error_codes(fake, team):
    wa = ChannelFactory(team=team, kind="whatsapp", external_id="106540352242922", credentials={"access_token": "WAT"})
    template = WhatsAppTemplateFactory(channel=wa, name="spring_sale", language="zh_HK")
    fake.route(
        "POST",
        "/v21.0/106540352242922/messages",
        lambda r: (
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": "85291234567", "wa_id": "85291234567"}],
                "messages": [{"id": "wamid.HBgLODUy"}],
            },
            {},
        ),
    )
    contact = ContactFactory(channel=wa, external_id="+85291234567", phone="+85291234567")
    message, _ = outbox.enqueue(
        team=team,
        channel=wa,
        contact=contact,
        content={"type": "whatsapp_template", "template_id": template.pk, "parameters": ["陳先生", "SPRING"]},
        origin="journey",
        origin_id="n",
        idempotency_key="w1",
    )
    outbox.dispatch()
    body = fake.requests[-1]["json"]
    assert body["messaging_product"] == "whatsapp" and body["to"] == "85291234567" and body["type"] == "template"
    assert body["template"]["name"] == "spring_sale" and body["template"]["language"] == {"code": "zh_HK"}
    assert [p["text"] for p in body["template"]["components"][0]["parameters"]] == ["陳先生", "SPRING"]
    message.refresh_from_db()
    assert message.status == "sent" and message.provider_message_id == "wamid.HBgLODUy"
    assert str(message.cost) == "0.5000" and message.cost_currency == "HKD"
    adapter = get_adapter(wa)
    for code, kind in [(131042, BUDGET), (132001, TEMPLATE), (130429, RETRYABLE), (131026, PERMANENT)]:
        fake.route(
            "POST",
            "/v21.0/106540352242922/messages",
            lambda r, c=code: (400, {"error": {"code": c, "message": "x"}}, {}),
        )
        assert (
            adapter.send(
                recipient="+85291234567", payload={"type": "text", "text": {"body": "x"}}, retry_key=None
            ).error_kind
            == kind
        )


def test_whatsapp_template_sync_records_deletion(fake, team):
    wa = ChannelFactory(
        team=team, kind="whatsapp", external_id="1065", credentials={"access_token": "WAT", "waba_id": "WABA1"}
    )
    old = WhatsAppTemplateFactory(channel=wa, name="gone", language="en")
    fake.route(
        "GET",
        "/v21.0/WABA1/message_templates",
        lambda r: (
            200,
            {
                "data": [
                    {
                        "id": "594425479261596",
                        "name": "order_update",
                        "language": "zh_TW",
                        "category": "UTILITY",
                        "status": "APPROVED",
                        "components": [{"type": "BODY", "text": "您的訂單 {{1}} 已於 {{2}} 出貨"}],
                    }
                ],
                "paging": {},
            },
            {},
        ),
    )
    assert templates.sync(wa) == 1
    synced = wa.whatsapp_templates.get(name="order_update")
    assert synced.parameter_count == 2 and synced.status == "approved" and synced.category == "utility"
    old.refresh_from_db()
    assert old.deleted_at is not None


def test_connection_tests(fake, team, line):
    fake.route(
        "GET", "/v2/bot/info", lambda r: (200, {"userId": "Ub", "basicId": "@123abcd", "displayName": "My Shop"}, {})
    )
    assert get_adapter(line).test_connection() == (True, "My Shop @123abcd")
    line.credentials = {"access_token": "bad"}
    fake.route("GET", "/v2/bot/info", lambda r: (401, {"message": "Authentication failed"}, {}))
    ok, message = get_adapter(line).test_connection()
    assert not ok and "401" in message


def test_meta_tokens_travel_in_the_header_and_never_reach_the_failure_log(team, settings, caplog):
    """Issue 23.11: the page access token was in the query string, and the network-failure log printed the URL."""
    settings.MESSAGING_META_GRAPH_BASE = "http://127.0.0.1:9/v21.0"  # nothing listens: the request fails
    page = ChannelFactory(team=team, kind="facebook", external_id="1234567890", credentials={"access_token": "PAT-9"})
    adapter = get_adapter(page)
    with caplog.at_level(logging.WARNING, logger="messaging.adapters.base"):
        result = adapter.send(recipient="PSID1", payload={"message": {"text": "hi"}}, retry_key=uuid.uuid4())
        ok, _message = adapter.test_connection()
    assert result.error_kind == RETRYABLE and not ok
    assert len(caplog.records) == 2 and "127.0.0.1:9" in caplog.text
    assert "PAT-9" not in caplog.text
