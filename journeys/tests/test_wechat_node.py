"""WeChat as a journey message channel: a WeChat target's message node sends a WeChat template message (the only
content WeChat delivers outside its 48-hour window), set in the node drawer, checked by messaging's one
check_sendable at save and publish, and written to the outbox by the engine."""

import pytest
from django.urls import reverse

from cdp.tests.factories import ChannelFactory, ContactFactory
from journeys import engine, services
from journeys.graph import find_node
from journeys.models import JourneyChannel
from journeys.tests.factories import JourneyFactory, enroll_directly, node, published_journey
from messaging.models import OutboundMessage
from messaging.services.outbox import dispatch

pytestmark = pytest.mark.django_db

CONFIG = {"kind": "wechat_template", "template_id": "TPL_WELCOME", "data": {"first": "歡迎", "keyword1": "VIP"}}


@pytest.fixture
def wechat(team):
    return ChannelFactory(team=team, kind="wechat", is_sandbox=True)


def test_the_drawer_sets_a_wechat_template_message(console, team, wechat):
    journey = JourneyFactory(team=team)
    JourneyChannel.objects.create(team=team, journey=journey, channel=wechat)
    added = services.add_node(journey, type="message")
    url = reverse("journeys:node", args=[journey.pk, added["id"]])
    drawer = console.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'value="wechat_template"' in drawer and 'name="wechat_template_id"' in drawer
    posted = {
        "channel_id": str(wechat.pk),
        "kind": "wechat_template",
        "module_id": "",
        "wechat_template_id": " TPL_WELCOME ",
        "wechat_data": "first: 歡迎\nkeyword1：VIP",
        "wechat_url": "https://shop.example.com/vip",
    }
    bad = console.post(url, {**posted, "wechat_data": "first 歡迎"}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 400 and "first 歡迎" in bad.content.decode()
    saved = console.post(url, posted, HTTP_HX_REQUEST="true")
    assert saved.status_code == 200, saved.content.decode()[:1000]
    journey.refresh_from_db()
    config = find_node(journey.draft_graph, added["id"])["config"]
    assert config == {"channel_id": wechat.pk, **CONFIG, "url": "https://shop.example.com/vip"}
    shown = console.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'value="TPL_WELCOME"' in shown and "first: 歡迎\nkeyword1: VIP</textarea>" in shown
    assert '<option value="wechat_template" selected>' in shown


def test_a_module_cannot_go_to_a_wechat_target(team, wechat, module):
    journey = JourneyFactory(team=team)
    JourneyChannel.objects.create(team=team, journey=journey, channel=wechat)
    added = services.add_node(journey, type="message")
    with pytest.raises(services.JourneyError) as error:
        services.update_node(journey, added["id"], {"channel_id": wechat.pk, "kind": "module", "module_id": module.pk})
    assert "此渠道無法發送機器人模組" in str(error.value)


def test_the_engine_sends_the_wechat_template_message(team, wechat):
    journey = published_journey(team, wechat, [node("message", channel_id=wechat.pk, **CONFIG)])
    contact = ContactFactory(channel=wechat)
    enrollment = enroll_directly(journey, contact)
    ids, token = engine.claim(500)
    engine.process(ids, token)
    enrollment.refresh_from_db()
    assert enrollment.state == "completed"
    dispatch()
    (message,) = OutboundMessage.objects.filter(team=team, origin="journey")
    assert message.contact_id == contact.pk and message.status in ("sent", "delivered"), message.error_reason
    assert message.content == {"type": "wechat_template", "template_id": "TPL_WELCOME", "data": CONFIG["data"]}
    assert message.preview == "[TPL_WELCOME] 歡迎 / VIP"


def test_a_wechat_template_error_names_the_wechat_field(team, wechat):
    from journeys.labels import NODE_FIELDS
    from journeys.validation import _validate_message

    errors = _validate_message(team, {"channel_id": wechat.pk, "kind": "wechat_template"}, [wechat.pk])
    assert list(errors) == ["wechat_template_id"] and str(NODE_FIELDS["wechat_template_id"]) == "WeChat 模板 ID"
