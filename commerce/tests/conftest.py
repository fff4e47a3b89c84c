import pytest

from cdp.tests.factories import ChannelFactory
from messaging.tests.fake_platform import FakePlatform
from messaging.tests.payloads import LINE_SECRET, META_SECRET

from .fake_stripe import FakeStripe

WA_PHONE_ID = "106540352242922"


@pytest.fixture(autouse=True)
def _q_sync(monkeypatch, settings):
    from django_q.conf import Conf

    from messaging.services import channel_cache

    monkeypatch.setattr(Conf, "SYNC", True)
    settings.JOURNEYS_WAKE_ENGINE = False
    settings.PUBLIC_BASE_URL = "https://shop.example.com"
    channel_cache.clear()


@pytest.fixture
def platform(settings):
    with FakePlatform() as server:
        settings.MESSAGING_WHATSAPP_API_BASE = server.url + "/v21.0"
        settings.MESSAGING_LINE_API_BASE = server.url
        server.route("POST", f"/v21.0/{WA_PHONE_ID}/messages", server.whatsapp_messages)
        server.route("POST", "/v2/bot/message/push", server.line_push)
        yield server


@pytest.fixture
def stripe(settings):
    with FakeStripe() as server:
        settings.COMMERCE_STRIPE_API_BASE = server.url
        yield server


@pytest.fixture
def line(team):
    return ChannelFactory(team=team, kind="line", credentials={"channel_secret": LINE_SECRET, "access_token": "LAT"})


@pytest.fixture
def wa(team):
    return ChannelFactory(
        team=team,
        kind="whatsapp",
        external_id=WA_PHONE_ID,
        credentials={"phone_number_id": WA_PHONE_ID, "app_secret": META_SECRET, "access_token": "WAT", "waba_id": "1"},
    )
