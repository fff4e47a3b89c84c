"""WeChat audience packs and broadcasts: the pack counts receiving WeChat contacts (cdp's receiving_q), and a
WeChat broadcast is a template message (text and chatbot modules cannot go outside the 48-hour window)."""

import pytest

from audiences import services
from audiences.models import BroadcastRecipient
from audiences.services import AudienceError
from audiences.tests.factories import EVERYONE_BOUND_OR_NOT
from cdp.tests.factories import ChannelFactory, ContactFactory
from messaging.models import OutboundMessage
from messaging.services.outbox import dispatch
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
