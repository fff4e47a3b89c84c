"""Issue 22.13: the journey settings form parses its numbers and times with a Django form (journeys.forms.
SettingsForm); times are typed in the team's time zone, bad input is a 400 naming the field."""

import datetime as dt

import pytest
from django.urls import reverse

from journeys.tests.factories import JourneyFactory

pytestmark = pytest.mark.django_db


def _post(console, journey, **extra):
    data = {"name": "排程", "trigger_type": "system", "system_name": "visit", "activation": "scheduled", **extra}
    return console.post(reverse("journeys:settings", args=[journey.pk]), data, HTTP_HX_REQUEST="true")


def test_times_are_read_in_the_team_zone(console, team):
    journey = JourneyFactory(team=team)
    response = _post(
        console, journey, starts_at="2030-07-02T00:00", ends_at="2030-07-03T08:30", per_customer_limit=" 2 "
    )
    assert response.status_code == 200, response.content.decode()[:300]
    journey.refresh_from_db()
    assert journey.starts_at == dt.datetime(2030, 7, 1, 16, 0, tzinfo=dt.UTC)  # Asia/Taipei is UTC+8
    assert journey.ends_at == dt.datetime(2030, 7, 3, 0, 30, tzinfo=dt.UTC)
    assert journey.per_customer_limit == 2


def test_bad_numbers_and_times_name_their_fields(console, team):
    journey = JourneyFactory(team=team, name="before")
    response = _post(console, journey, starts_at="2030-13-01T00:00", ends_at="", holdout_percent="ten")
    html = response.content.decode()
    assert response.status_code == 400
    assert "日期時間格式錯誤" in html and "請設定結束時間" in html and "請輸入整數" in html
    journey.refresh_from_db()
    assert journey.name == "before" and journey.starts_at is None
