"""Regenerate the README's screenshots (docs/screenshots/*.png, half scale): README_SHOTS=1 pytest this file."""

import io
import os
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from accounts.models import Team
from tests.factories import MembershipFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("README_SHOTS"), reason="set README_SHOTS=1 to regenerate"),
]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def test_readme_screenshots(live_server, browser):
    from audiences.models import AudiencePack
    from journeys.models import Journey

    call_command("seed_demo", team="shots", contacts=120, seed=2, stdout=io.StringIO())
    team = Team.objects.get(slug="shots")
    client = Client()
    client.force_login(MembershipFactory(team=team, role="owner").user)
    context = browser.new_context(viewport={"width": 1440, "height": 900}, device_scale_factor=0.5)
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}])
    page = context.new_page()
    DOCS.mkdir(parents=True, exist_ok=True)
    journey = Journey.objects.for_team(team).filter(status="active").order_by("pk").first()
    pack = AudiencePack.objects.for_team(team).order_by("pk").first()
    shots = [
        ("zh-hant", "customers-zh", "/customers/"),
        ("en", "audience-en", f"/audiences/{pack.pk}/"),
        ("en", "journey-en", f"/journeys/{journey.pk}/"),
    ]
    for language, name, path in shots:
        context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
        page.goto(live_server.url + path)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(DOCS / f"{name}.png"))
    context.close()
