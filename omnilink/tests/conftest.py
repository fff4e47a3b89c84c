import pytest

from cdp.tests.factories import ChannelFactory
from messaging.tests.payloads import LINE_SECRET, META_SECRET


@pytest.fixture(autouse=True)
def _q_sync(monkeypatch):
    """Run django-q2 tasks inline, as a worker would (webhook processing)."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture(autouse=True)
def _fresh_channel_cache():
    from messaging.services import channel_cache

    channel_cache.clear()


@pytest.fixture
def line(team):
    return ChannelFactory(
        team=team,
        kind="line",
        name="LINE 官方帳號",
        credentials={"channel_secret": LINE_SECRET, "access_token": "t", "basic_id": "@brand"},
    )


@pytest.fixture
def wa(team):
    return ChannelFactory(
        team=team,
        kind="whatsapp",
        name="WhatsApp",
        external_id="106540352242922",
        credentials={
            "app_secret": META_SECRET,
            "verify_token": "wa-vt",
            "access_token": "w",
            "display_phone_number": "+852 9123 4567",
        },
    )


@pytest.fixture
def page(team):
    return ChannelFactory(
        team=team,
        kind="facebook",
        name="Messenger",
        external_id="1234567890",
        credentials={"app_secret": META_SECRET, "verify_token": "vt", "access_token": "p", "page_id": "1234567890"},
    )
