import datetime as dt
import zoneinfo

import pytest

from cdp.tests.factories import ChannelFactory, ContactFactory
from journeys.models import Journey
from journeys.simulate import simulate
from journeys.tests.factories import delay, message, published_journey
from messaging.models import OutboundMessage

pytestmark = pytest.mark.django_db
TAIPEI = zoneinfo.ZoneInfo("Asia/Taipei")


def test_api_create_publish_and_act(api, team, line):
    response = api.post(
        "/api/v1/journeys",
        {
            "name": "API 旅程",
            "trigger_type": "system",
            "trigger_config": {"name": "website_remarketing"},
            "channels": [{"channel_id": line.pk}],
            "graph": {"nodes": [{"id": "n1", "type": "delay", "config": {"days": 0, "hours": 0, "minutes": 0}}]},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    journey_id = response.json()["id"]
    bad = api.post(f"/api/v1/journeys/{journey_id}/publish")
    assert bad.status_code == 400
    assert "nodes.n1.delay" in bad.json()["error"]["fields"]
    fixed = api.patch(
        f"/api/v1/journeys/{journey_id}",
        {"graph": {"nodes": [{"id": "n1", "type": "delay", "config": {"days": 1}}]}},
        format="json",
    )
    assert fixed.status_code == 200, fixed.content
    published = api.post(f"/api/v1/journeys/{journey_id}/publish")
    assert published.status_code == 200 and published.json()["status"] == "active"
    assert published.json()["actions"] == ["view", "close_trigger", "stop", "copy"]
    assert api.delete(f"/api/v1/journeys/{journey_id}").status_code == 400  # active: no delete in seed 002
    closed = api.post(f"/api/v1/journeys/{journey_id}/action", {"action": "close_trigger"}, format="json")
    assert closed.json()["status"] == "trigger_closed"
    assert api.get(f"/api/v1/journeys/{journey_id}/statistics").json()["triggers"] == 0
    assert api.get("/api/v1/journeys", {"status": "trigger_closed"}).json()


def test_api_rejects_bad_input_without_half_applying(api, team, line):
    response = api.post(
        "/api/v1/journeys",
        {"name": "X", "dnd_segments": [["23:00", "08:00"]], "channels": [{"channel_id": line.pk}]},
        format="json",
    )
    assert response.status_code == 400
    assert "dnd_segments[0]" in response.json()["error"]["fields"]
    assert not Journey.objects.filter(name="X").exists()


def test_test_a_journey_shows_path_and_policy_without_sending(team, line, module):
    wa = ChannelFactory(team=team, kind="whatsapp")
    journey = published_journey(
        team,
        [line, wa],
        [delay(hours=1), message(line, module), message(wa, module)],
        dnd_segments=[["23:00", "23:59"], ["00:00", "08:00"]],
    )
    contact = ContactFactory(channel=line)
    ContactFactory(channel=wa, customer=contact.customer)
    path = simulate(journey, contact.customer, now=dt.datetime(2026, 3, 10, 22, 30, tzinfo=TAIPEI))
    assert [(s.node_type, s.outcome) for s in path] == [("delay", "wait"), ("message", "defer"), ("message", "skip")]
    assert "08:00" in path[1].detail
    assert "template" in path[2].detail
    assert not OutboundMessage.objects.exists()


def test_schedules_are_created_idempotently():
    from django_q.models import Schedule

    from journeys.tasks import SCHEDULES, ensure_schedules

    ensure_schedules()
    ensure_schedules()
    names = [name for name, *_ in SCHEDULES]
    assert Schedule.objects.filter(name__in=names).count() == 3
    assert Schedule.objects.get(name="journeys: engine").func == "journeys.tasks.run_engine"
