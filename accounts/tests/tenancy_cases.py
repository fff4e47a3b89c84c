from tests.factories import api_key_for
from tests.tenancy import tenancy_case


@tenancy_case("api-key")
def make_api_key(team):
    return api_key_for(team, name="team secret key").api_key
