"""The journeys' after-commit hints (engine wake-up, halt of a stopping journey) survive a broker that is down."""

from django_q.conf import Conf

from journeys import services, triggers


def test_every_journey_hint_survives_a_broker_that_is_down(monkeypatch):
    """With the broker down each hint logs and returns; none raises into the request or task that already
    committed (the per-minute ticks do the work anyway)."""
    monkeypatch.setattr(Conf, "SYNC", False)

    def broker_down(*args, **kwargs):
        raise ConnectionError("Connection refused")

    monkeypatch.setattr("accounts.queues.enqueue", broker_down)
    assert triggers._engine_hint() is False
    services._hint_halt(1, 2)  # no exception
