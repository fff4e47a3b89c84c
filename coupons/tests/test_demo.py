import pytest
from django.core.management import call_command

from accounts.models import Team
from coupons import services
from coupons.models import Campaign

pytestmark = pytest.mark.django_db


def test_demo_team_has_a_campaign_with_claims_and_redemptions():
    call_command("seed_demo", contacts=300, seed=7)
    team = Team.objects.get(slug="demo")
    campaign = Campaign.objects.get(team=team)
    stats = services.statistics(campaign)
    assert stats["sent"] > 0 and stats["claimed"] > 0 and stats["redeemed"] > 0 and stats["revenue"]
