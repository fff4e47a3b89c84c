from coupons.tests.factories import make_campaign
from tests.tenancy import tenancy_case


@tenancy_case("coupon")
def make_coupon(team):
    return make_campaign(team)
