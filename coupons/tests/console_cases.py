from coupons.tests.factories import make_campaign
from tests.tenancy import console_case


@console_case(
    "coupons:detail",
    "coupons:edit",
    "coupons:generate",
    "coupons:import",
    "coupons:claims-csv",
    "coupons:archive",
)
def coupon_urls(team):
    return {"pk": make_campaign(team).pk}
