"""cdp.events hands timeline event ids to the consumers through accounts' durable hand-off."""

import pytest
from django.db import transaction

from accounts import handoff
from accounts.models import Handoff
from cdp.events import announce, batched_notifications

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _consumers(settings):
    settings.CUSTOMER_EVENT_CONSUMERS = ["cdp.tests.test_events_handoff.consume"]
    handoff._hint.cache_clear()
    yield
    handoff._hint.cache_clear()


def consume(team_id, event_ids):
    """A consumer that is never drained here: the tests look at the rows."""


def test_a_batch_announces_once_per_team(team, other_team):
    with transaction.atomic(), batched_notifications():
        announce(team.pk, [1])
        announce(other_team.pk, [2])
        announce(team.pk, [3])
    assert sorted((row.team_id, row.payload) for row in Handoff.objects.all()) == [
        (team.pk, [1, 3]),
        (other_team.pk, [2]),
    ]


def test_outside_a_batch_each_announce_is_one_row(team):
    announce(team.pk, [1, 2])
    announce(team.pk, [3])
    assert sorted(row.payload for row in Handoff.objects.all()) == [[1, 2], [3]]
