from tests.factories import MembershipFactory, api_key_for
from tests.tenancy import console_case


@console_case("api-key-revoke")
def api_key_urls(team):
    return {"pk": api_key_for(team, name="console walk").api_key.pk}


@console_case("member-remove")
def member_urls(team):
    return {"pk": MembershipFactory(team=team, role="agent").pk}
