"""社群身份綁定來源 counts OmniLink bindings: a campaign's success binds with method omnilink, as the rollups see."""

import pytest
from django.utils import timezone

from analytics import rollups, services
from cdp.tests.factories import ChannelFactory, ContactFactory
from omnilink import links
from omnilink import services as omnilink

pytestmark = pytest.mark.django_db


def test_an_omnilink_success_is_counted_as_an_omnilink_binding(team, django_capture_on_commit_callbacks):
    line = ChannelFactory(team=team, kind="line", credentials={"basic_id": "@brand"})
    wa = ChannelFactory(team=team, kind="whatsapp", credentials={"display_phone_number": "85291234567"})
    campaign = omnilink.save_campaign(
        team=team,
        name="LINE → WhatsApp",
        source_channel=line,
        target_channel=wa,
        card={"image_url": "https://cdn.example.com/a.png", "title": "t", "button_label": "go"},
        integration_message="綁定",
    )
    source = ContactFactory(channel=line)
    outcome = omnilink.click(links.make_token(campaign.pk, source.pk))
    target = ContactFactory(channel=wa)
    with django_capture_on_commit_callbacks(execute=True):
        assert omnilink.complete(channel=wa, contact=target, code=outcome.participant.code, at=timezone.now())
    rollups.rebuild(team)
    month = timezone.localtime(timezone.now(), team.zone).date().replace(day=1)
    counts = {row["method"]: row["count"] for row in services.binding_sources(team, month)["methods"]}
    assert counts["omnilink"] == 1
