from tests.tenancy import console_case

from .tenancy_cases import campaign_for


@console_case(
    "omnilink:campaign-edit",
    "omnilink:campaign-toggle",
    "omnilink:campaign-copy",
    "omnilink:campaign-statistics",
    "omnilink:participants-csv",
)
def campaign_urls(team):
    return {"pk": campaign_for(team).pk}
