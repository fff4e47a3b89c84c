"""The plan's journey trigger limit (seed 002: 到達旅程觸發次數上限 → 觸發已關閉, 旅程觸發次數已達方案上限).

The limit counts one journey's triggers with repeats, like the statistics' 旅程觸發次數; it is a Team setting
(ops edit it in the admin) that a journey takes when it is published, enforced under the locked Journey row.
"""

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from cdp.events import record_event
from cdp.models import CustomerEvent, EventType
from cdp.tests.factories import ContactFactory
from journeys import services
from journeys.models import Enrollment, Journey, StatusChange
from journeys.tasks import on_customer_events
from journeys.tests.factories import delay, fire_concurrently, published_journey

pytestmark = pytest.mark.django_db


def _plan(team, limit):
    team.journey_trigger_limit = limit
    team.save(update_fields=["journey_trigger_limit"])


def _visit(team, customer):
    return record_event(
        team=team, customer=customer, type=EventType.SYSTEM, occurred_at=timezone.now(), data={"name": "visit"}
    )


def _visits_journey(team, line, **fields):
    return published_journey(
        team, line, [delay(hours=1)], trigger_type="system", trigger_config={"name": "visit"}, **fields
    )


def test_publish_takes_the_plan_limit_and_copy_does_not_keep_it(team, line):
    _plan(team, 3)
    journey = _visits_journey(team, line)
    assert journey.max_triggers == 3
    _plan(team, 10)
    journey.draft_graph = journey.current_version.graph
    journey.save()
    services.publish(journey)
    journey.refresh_from_db()
    assert journey.max_triggers == 10  # a new version applies the plan in force now
    clone = services.copy_journey(journey)
    assert clone.max_triggers is None  # a draft has no limit of its own until it is published
    _plan(team, None)
    services.publish(clone)
    clone.refresh_from_db()
    assert clone.max_triggers is None


def test_plan_limit_counts_repeats_and_closes_the_trigger(team, line, console):
    _plan(team, 3)
    journey = _visits_journey(team, line)
    other = _visits_journey(team, line)  # each journey has its own count toward the plan limit
    one, two = ContactFactory(channel=line).customer, ContactFactory(channel=line).customer
    ids = [_visit(team, one).pk, _visit(team, one).pk, _visit(team, one).pk, _visit(team, two).pk]
    on_customer_events(team.pk, ids)
    journey.refresh_from_db()
    assert Enrollment.objects.filter(journey=journey).count() == 3
    assert Enrollment.objects.filter(journey=other).count() == 3
    assert (journey.trigger_count, journey.status, journey.status_reason) == (
        3,
        "trigger_closed",
        "trigger_limit_reached",
    )
    change = StatusChange.objects.exclude(reason="published").get(journey=journey)
    assert (change.from_status, change.to_status, change.reason) == (
        "active",
        "trigger_closed",
        "trigger_limit_reached",
    )
    # Closed: later triggers start nothing, customers inside keep going.
    assert on_customer_events(team.pk, [_visit(team, two).pk]) == 0
    assert Enrollment.objects.filter(journey=journey, state="active").count() == 3

    html = console.get(reverse("journeys:index")).content.decode()
    row = html.split(f'data-journey="{journey.pk}"')[1].split("</tr>")[0]
    assert "旅程觸發次數已達方案上限" in row and "觸發已關閉" in row
    assert '<span class="muted">/ 3</span>' in row
    builder = console.get(reverse("journeys:builder", args=[journey.pk])).content.decode()
    assert "此旅程最多觸發 3 次（已觸發 3 次）" in builder
    console.cookies["django_language"] = "en"
    assert (
        "The journey reached its plan&#x27;s trigger limit" in console.get(reverse("journeys:index")).content.decode()
    )
    builder = console.get(reverse("journeys:builder", args=[journey.pk])).content.decode()
    assert "this journey takes at most 3 triggers (3 so far)" in builder


def test_unlimited_plan_takes_every_trigger(team, line):
    journey = _visits_journey(team, line)
    customer = ContactFactory(channel=line).customer
    on_customer_events(team.pk, [_visit(team, customer).pk for _ in range(5)])
    journey.refresh_from_db()
    assert (journey.max_triggers, journey.trigger_count, journey.status) == (None, 5, "active")


def test_ops_edit_the_plan_limit_in_the_admin(team, client):
    admin = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw")
    client.force_login(admin)
    url = reverse("admin:accounts_team_change", args=[team.pk])
    form = client.get(url).content.decode()
    assert 'name="journey_trigger_limit"' in form
    data = {
        "name": team.name,
        "slug": team.slug,
        "time_zone": team.time_zone,
        "currency": team.currency,
        "default_region": team.default_region,
        "contact_quota": team.contact_quota,
        "line_message_cost": team.line_message_cost,
        "line_cost_currency": team.line_cost_currency,
        "whatsapp_message_cost": team.whatsapp_message_cost,
        "whatsapp_cost_currency": team.whatsapp_cost_currency,
        "attribution_window_days": team.attribution_window_days,
        "binding_link_days": team.binding_link_days,
        "match_by_phone": "on",
        "match_by_email": "on",
        "created_at_0": "2026-01-01",
        "created_at_1": "00:00:00",
        "journey_trigger_limit": "0",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }
    rejected = client.post(url, data)
    assert rejected.status_code == 200  # 0 is not a limit: at least 1, or empty for unlimited
    data["journey_trigger_limit"] = "500"
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    team.refresh_from_db()
    assert team.journey_trigger_limit == 500


@pytest.mark.postgres
@pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL row locks")
@pytest.mark.django_db(transaction=True)
def test_plan_limit_under_concurrent_triggers(team, line):
    _plan(team, 5)
    journey = _visits_journey(team, line)
    customers = [ContactFactory(channel=line).customer for _ in range(4)]
    now = timezone.now()
    # Inserted without announcing them: the threads below are the only ones to fire the triggers.
    events = CustomerEvent.objects.bulk_create(
        [
            CustomerEvent(team=team, customer=c, type=EventType.SYSTEM, occurred_at=now, data={"name": "visit"})
            for c in customers
            for _ in range(6)
        ]
    )
    ids = [e.pk for e in events]
    fire_concurrently(team, ids)
    journey = Journey.objects.get(pk=journey.pk)
    assert Enrollment.objects.filter(journey=journey).count() == 5
    assert (journey.trigger_count, journey.status) == (5, "trigger_closed")
    assert list(
        StatusChange.objects.filter(journey=journey).exclude(reason="published").values_list("reason", flat=True)
    ) == ["trigger_limit_reached"]
