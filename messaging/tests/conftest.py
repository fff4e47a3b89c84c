import pytest


@pytest.fixture(autouse=True)
def _q_sync(monkeypatch):
    """Run django-q2 tasks inline, as a worker would (webhook processing, outbox hints)."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture(autouse=True)
def _fresh_channel_cache():
    """Channel ids are reused across tests (rolled-back transactions): start each test with an empty cache."""
    from messaging.services import channel_cache

    channel_cache.clear()
