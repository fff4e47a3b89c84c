from tests.tenancy import console_case


@console_case("analytics:card", "analytics:export")
def card_urls(team):
    return {"name": "kpis"}
