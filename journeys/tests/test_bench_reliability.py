"""`bench reliability` (issue 23): registered, and its count of lost and duplicated enrollments is right."""

import pytest

from cdp.models import Contact, EventReceipt
from core.benchmarks import registry
from journeys import bench_reliability
from journeys.models import Enrollment


def test_reliability_is_registered_and_needs_postgres():
    bench = registry()["reliability"]
    assert bench.requires_postgres


@pytest.mark.django_db
def test_lost_and_duplicate_enrollments_are_counted_per_accepted_trigger():
    team, _channel, journey = bench_reliability._trigger_setup(4)
    # Triggers 0, 1 and 2 were accepted (a receipt each); trigger 3 was not, so its missing enrollment is no loss.
    EventReceipt.objects.bulk_create(
        [EventReceipt(team=team, event_id=f"{bench_reliability.TRIGGER}-{i}", type="system.burst") for i in range(3)]
    )
    contacts = {c.external_id: c for c in Contact.objects.filter(team=team)}

    def enrol(i):
        contact = contacts[f"{bench_reliability.TRIGGER}{i:06d}"]
        Enrollment.objects.create(
            team=team, journey=journey, version=journey.current_version, customer=contact.customer, contact=contact
        )

    enrol(0)
    enrol(0)  # twice: one duplicate
    enrol(1)
    assert bench_reliability._lost_and_duplicates(team, journey) == (1, 1)  # trigger 2 lost
    enrol(2)
    assert bench_reliability._lost_and_duplicates(team, journey) == (0, 1)


def test_wait_for_gives_up_when_the_count_stops_moving(monkeypatch):
    monkeypatch.setattr(bench_reliability.time, "sleep", lambda s: None)
    counts = iter([1, 2, 3, 3, 3, 3])
    clock = iter(range(100))
    monkeypatch.setattr(bench_reliability.time, "monotonic", lambda: next(clock))
    assert bench_reliability._wait_for(lambda: next(counts), 10, 0, stall=2.5) == (None, 3)
    assert bench_reliability._wait_for(iter([4, 10]).__next__, 10, 0, stall=2.5)[1] == 10
