import pytest

from cdp.tests.factories import ChannelFactory
from messaging.tests.factories import ChatbotModuleFactory


@pytest.fixture(autouse=True)
def _journeys_settings(settings, monkeypatch):
    """Engine runs are explicit in tests (the on-commit wake-up hint is off); django-q2 tasks run inline."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)
    settings.JOURNEYS_WAKE_ENGINE = False


@pytest.fixture
def line(team):
    return ChannelFactory(team=team, kind="line", is_sandbox=True)


@pytest.fixture
def module(team):
    return ChatbotModuleFactory(team=team)
