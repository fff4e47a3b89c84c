"""Issue 22.1: saving a broadcast is one atomic service (audiences.services.save_broadcast), called by the console
editor and the API alike. Bad input changes nothing."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from audiences import services
from audiences.models import Broadcast, BroadcastStatus
from audiences.tests.factories import AudiencePackFactory, BroadcastFactory
from cdp.tests.factories import ChannelFactory
from messaging.tests.factories import ChatbotModuleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def pack(team):
    return AudiencePackFactory(team=team, channel=ChannelFactory(team=team, kind="line", is_sandbox=True))


@pytest.fixture
def module(team):
    return ChatbotModuleFactory(team=team)


def post(pack, module, **extra):
    return {
        "name": "週年慶",
        "channel": pack.channel_id,
        "pack": pack.pk,
        "content_type": "module",
        "module_id": module.pk,
        "action": "save",
        **extra,
    }


def test_create_and_schedule_without_a_time_leaves_no_draft(console, team, pack, module):
    """The bug: each of these POSTs left an orphan draft behind its error."""
    url = reverse("audiences:broadcast-new")
    for _attempt in range(2):
        response = console.post(url, post(pack, module, action="schedule", scheduled_at=""))
        assert response.status_code == 400
        assert "請填入發送時間" in response.content.decode()
    assert not Broadcast.objects.exists()
    response = console.post(url, post(pack, module, action="schedule", scheduled_at="tomorrow at noon"))
    assert response.status_code == 400 and not Broadcast.objects.exists()


def test_create_and_schedule_in_the_teams_time_zone(console, team, pack, module):
    local = timezone.now().astimezone(team.zone) + dt.timedelta(days=1)
    typed = local.strftime("%Y-%m-%dT%H:%M")
    response = console.post(
        reverse("audiences:broadcast-new"), post(pack, module, action="schedule", scheduled_at=typed)
    )
    assert response.status_code == 302
    broadcast = Broadcast.objects.get(team=team)
    assert broadcast.status == BroadcastStatus.SCHEDULED
    assert broadcast.scheduled_at == local.replace(second=0, microsecond=0)
    assert broadcast.content == {"type": "module", "module_id": module.pk}


def test_a_past_time_or_a_send_without_content_creates_nothing(console, team, pack, module):
    url = reverse("audiences:broadcast-new")
    past = (timezone.now().astimezone(team.zone) - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    assert console.post(url, post(pack, module, action="schedule", scheduled_at=past)).status_code == 400
    assert console.post(url, post(pack, module, action="send_now", module_id="")).status_code == 400
    assert console.post(url, post(pack, module, module_id="abc")).status_code == 400
    assert not Broadcast.objects.exists()


def test_a_draft_saves_and_a_failed_schedule_leaves_the_draft_as_it_was(console, team, pack, module):
    response = console.post(reverse("audiences:broadcast-new"), post(pack, module))
    assert response.status_code == 302
    broadcast = Broadcast.objects.get(team=team)
    assert broadcast.status == BroadcastStatus.DRAFT and broadcast.name == "週年慶"
    edit = reverse("audiences:broadcast-edit", args=[broadcast.pk])
    response = console.post(edit, post(pack, module, name="改名", action="schedule", scheduled_at=""))
    assert response.status_code == 400
    broadcast.refresh_from_db()
    assert broadcast.name == "週年慶" and broadcast.status == BroadcastStatus.DRAFT


def test_the_service_rolls_back_the_creation_when_scheduling_fails(team, pack, module):
    with pytest.raises(services.AudienceError) as info:
        services.save_broadcast(
            team=team,
            name="x",
            channel=pack.channel,
            pack=pack,
            content={"type": "module", "module_id": module.pk},
            then="schedule",
            at=timezone.now() - dt.timedelta(minutes=1),
        )
    assert info.value.field == "scheduled_at"
    assert not Broadcast.objects.exists()


def test_the_api_update_is_all_or_nothing(api, team, pack, module):
    broadcast = BroadcastFactory(team=team, pack=pack, channel=pack.channel, name="old")
    body = {"name": "new", "content": {"type": "module", "module_id": module.pk}, "custom_conditions": {"op": "and"}}
    response = api.patch(f"/api/v1/broadcasts/{broadcast.pk}", body, format="json")
    assert response.status_code == 400
    broadcast.refresh_from_db()
    assert broadcast.name == "old" and broadcast.content == {}
