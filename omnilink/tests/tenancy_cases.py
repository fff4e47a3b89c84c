from cdp.tests.factories import ChannelFactory
from tests.tenancy import tenancy_case

from .helpers import make_campaign


def campaign_for(team):
    line = ChannelFactory(team=team, kind="line", credentials={"basic_id": "@brand"})
    wa = ChannelFactory(team=team, kind="whatsapp", credentials={"display_phone_number": "85291234567"})
    return make_campaign(team, line, wa)


@tenancy_case("omnilink-campaign")
def make_omnilink_campaign(team):
    return campaign_for(team)
