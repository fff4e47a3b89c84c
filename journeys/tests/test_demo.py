import io

import pytest
from django.core.management import call_command

from journeys.models import Enrollment, Journey, VersionRollup

pytestmark = pytest.mark.django_db


def test_seed_demo_adds_journeys_of_every_trigger_and_several_statuses():
    call_command("seed_demo", team="demo-j", contacts=300, seed=3, now="2026-06-01", stdout=io.StringIO())
    journeys = Journey.objects.filter(team__slug="demo-j")
    assert set(journeys.values_list("trigger_type", flat=True)) == {
        "checkout_completed",
        "new_contact",
        "tag_added",
        "attribute_changed",
        "system",
    }
    assert {"draft", "active", "scheduled", "trigger_closed", "stopped"} <= set(
        journeys.values_list("status", flat=True)
    )
    assert Enrollment.objects.filter(team__slug="demo-j").exists()
    limited = journeys.get(status_reason="trigger_limit_reached")
    assert limited.status == "trigger_closed" and limited.trigger_count == limited.max_triggers > 0
    rollup = VersionRollup.objects.filter(team__slug="demo-j", stats__messages__gt=0).first()
    assert rollup is not None and rollup.stats["successful"] > 0
