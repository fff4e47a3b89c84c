from commerce.tests.tenancy_cases import make_order
from tests.tenancy import console_case


@console_case("commerce:order")
def order_urls(team):
    return {"pk": make_order(team).pk}


@console_case("commerce:order-action")
def order_action_urls(team):
    return {"pk": make_order(team).pk, "verb": "cancel"}


@console_case("commerce:logo")
def logo_urls(team):
    return {"verb": "delete"}
