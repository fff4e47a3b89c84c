from audiences.tests.factories import AudiencePackFactory, BroadcastFactory
from tests.tenancy import tenancy_case


@tenancy_case("audience-pack")
def make_pack(team):
    return AudiencePackFactory(team=team)


@tenancy_case("broadcast")
def make_broadcast(team):
    return BroadcastFactory(team=team)
