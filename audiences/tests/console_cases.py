from audiences.tests.factories import AudiencePackFactory, BroadcastFactory
from tests.tenancy import console_case


@console_case("audiences:pack-edit", "audiences:pack-copy", "audiences:pack-archive", "audiences:pack-reactivate")
def pack_urls(team):
    return {"pk": AudiencePackFactory(team=team).pk}


@console_case(
    "audiences:broadcast",
    "audiences:broadcast-edit",
    "audiences:broadcast-cancel",
    "audiences:broadcast-unschedule",
    "audiences:broadcast-send",
)
def broadcast_urls(team):
    return {"pk": BroadcastFactory(team=team).pk}
