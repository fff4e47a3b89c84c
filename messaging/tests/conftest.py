import pytest


@pytest.fixture(autouse=True)
def _q_sync(monkeypatch):
    """Run django-q2 tasks inline, as a worker would (webhook processing, outbox hints)."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)
