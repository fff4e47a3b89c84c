"""A journey stops when the channel's budget is gone before it sends (seed 002), not only after a send failed."""

from decimal import Decimal

import pytest

from billing import services as ledger
from cdp.tests.factories import ChannelFactory, ContactFactory
from journeys.tests.factories import enroll_directly, message, published_journey
from messaging.models import OutboundMessage
from messaging.tests.factories import ChatbotModuleFactory, WhatsAppTemplateFactory
from messaging.tests.fake_platform import FakePlatform

from .test_engine import run_all

pytestmark = pytest.mark.django_db


def test_line_quota_read_before_the_batch_stops_the_journey(team, settings):
    with FakePlatform() as fake:
        settings.MESSAGING_LINE_API_BASE = fake.url
        fake.route("GET", "/v2/bot/message/quota", lambda r: (200, {"type": "limited", "value": 500}, {}))
        fake.route("GET", "/v2/bot/message/quota/consumption", lambda r: (200, {"totalUsage": 500}, {}))
        line = ChannelFactory(team=team, kind="line", credentials={"access_token": "T", "channel_secret": "s"})
        journey = published_journey(team, line, [message(line, ChatbotModuleFactory(team=team))])
        enroll_directly(journey, ContactFactory(channel=line))
        run_all()
    journey.refresh_from_db()
    assert (journey.status, journey.status_reason) == ("stopped", "line_quota_exhausted")
    assert not OutboundMessage.objects.exists()


def test_whatsapp_prepaid_balance_zero_stops_the_journey(team):
    team.whatsapp_prepaid_price = Decimal("0.5")
    team.save(update_fields=["whatsapp_prepaid_price"])
    assert ledger.balance(team) == Decimal("0")
    wa = ChannelFactory(team=team, kind="whatsapp")
    step = message(wa, template=WhatsAppTemplateFactory(channel=wa), parameters=["a", "b"])
    journey = published_journey(team, wa, [step])
    enroll_directly(journey, ContactFactory(channel=wa))
    run_all()
    journey.refresh_from_db()
    assert (journey.status, journey.status_reason) == ("stopped", "whatsapp_balance_zero")
    assert not OutboundMessage.objects.exists()
