"""Issue 22.2: "can this content be sent on this channel" is ONE function (messaging.services.content.
check_sendable), and broadcasts, journey message nodes and the send API give the same answer through it.

Before, the three checks disagreed: broadcasts took a template of another WhatsApp channel; journeys took an
unapproved template; the send API took both, a template on a LINE contact and a module on a website contact."""

import pytest

from audiences import services as audiences
from cdp.tests.factories import ChannelFactory, ContactFactory
from journeys.validation import validate_node
from messaging.tests.factories import ChatbotModuleFactory, WhatsAppTemplateFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(team):
    whatsapp = ChannelFactory(team=team, kind="whatsapp", is_sandbox=True)
    return {
        "whatsapp": whatsapp,
        "line": ChannelFactory(team=team, kind="line", is_sandbox=True),
        "web": ChannelFactory(team=team, kind="web", is_sandbox=True),
        "other_whatsapp": ChannelFactory(team=team, kind="whatsapp", is_sandbox=True),
        "template": WhatsAppTemplateFactory(team=team, channel=whatsapp, parameter_count=1),
        "pending": WhatsAppTemplateFactory(team=team, channel=whatsapp, parameter_count=0, status="pending"),
        "module": ChatbotModuleFactory(team=team),
        "wechat": ChannelFactory(team=team, kind="wechat", is_sandbox=True),
    }


WECHAT = {"type": "wechat_template", "template_id": "TPL_ORDER", "data": {"first": "Hi", "keyword1": "A1"}}


def _template(template, parameters=("Amy",)):
    return {"type": "whatsapp_template", "template_id": template.pk, "parameters": list(parameters)}


def broadcast_answer(team, channel, content):
    try:
        audiences.create_broadcast(team=team, name="b", channel=channel, content=content)
    except audiences.AudienceError as exc:
        return exc.field.removeprefix("content.")
    return "ok"


def journey_answer(team, channel, content):
    config = {"channel_id": channel.pk, "kind": content["type"], **content}
    errors = validate_node(team, {"id": "n1", "type": "message", "config": config}, [channel.pk])
    if not errors:
        return "ok"
    key = next(iter(errors)).removeprefix("wechat_")  # the drawer's names for a WeChat template's fields
    return {"kind": "type"}.get(key, key)


def api_answer(api, channel, content):
    contact = ContactFactory(channel=channel)
    body = {"contact": contact.pk, "content": content, "idempotency_key": f"k-{contact.pk}"}
    response = api.post("/api/v1/messages", body, format="json")
    if response.status_code == 201:
        return "ok"
    assert response.status_code == 400, response.content
    return next(iter(response.json()["error"]["fields"])).removeprefix("content.")


CASES = [
    # (name, channel key, content builder, expected field or "ok")
    ("approved template with its parameter", "whatsapp", lambda w: _template(w["template"]), "ok"),
    ("template of another WhatsApp channel", "other_whatsapp", lambda w: _template(w["template"]), "template_id"),
    ("unapproved template", "whatsapp", lambda w: _template(w["pending"], ()), "template_id"),
    ("too few parameters", "whatsapp", lambda w: _template(w["template"], ()), "parameters"),
    ("parameters not text", "whatsapp", lambda w: {**_template(w["template"]), "parameters": [5]}, "parameters"),
    ("template on LINE", "line", lambda w: _template(w["template"]), "type"),
    ("module on LINE", "line", lambda w: {"type": "module", "module_id": w["module"].pk}, "ok"),
    ("deleted-or-unknown module", "line", lambda w: {"type": "module", "module_id": 999999}, "module_id"),
    ("WeChat template message", "wechat", lambda w: WECHAT, "ok"),
    ("WeChat template message with a link", "wechat", lambda w: {**WECHAT, "url": "https://s.example.com"}, "ok"),
    ("WeChat template without its id", "wechat", lambda w: {**WECHAT, "template_id": " "}, "template_id"),
    ("WeChat data key not a field name", "wechat", lambda w: {**WECHAT, "data": {"first name": "x"}}, "data"),
    ("WeChat link not http(s)", "wechat", lambda w: {**WECHAT, "url": "javascript:x"}, "url"),
    ("WeChat template on LINE", "line", lambda w: WECHAT, "type"),
    ("module on WeChat", "wechat", lambda w: {"type": "module", "module_id": w["module"].pk}, "type"),
]


@pytest.mark.parametrize(("name", "channel_key", "build", "expected"), CASES, ids=[c[0] for c in CASES])
def test_broadcasts_journeys_and_the_send_api_agree(team, api, world, name, channel_key, build, expected):
    channel, content = world[channel_key], build(world)
    answers = {
        "broadcast": broadcast_answer(team, channel, content),
        "journey": journey_answer(team, channel, content),
        "api": api_answer(api, channel, content),
    }
    assert answers == {"broadcast": expected, "journey": expected, "api": expected}


def test_the_send_api_refuses_a_module_on_a_channel_that_cannot_render_it(api, world):
    assert api_answer(api, world["web"], {"type": "module", "module_id": world["module"].pk}) == "type"


def test_another_teams_module_is_unknown(api, other_team, world):
    foreign = ChatbotModuleFactory(team=other_team)
    assert api_answer(api, world["line"], {"type": "module", "module_id": foreign.pk}) == "module_id"
