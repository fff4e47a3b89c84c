from journeys.models import JourneyVersion
from journeys.tests.factories import JourneyFactory, split
from tests.tenancy import console_case

VIP = {"op": "and", "children": [{"type": "tag", "op": "has", "match": "any", "tags": ["VIP"]}]}


@console_case(
    "journeys:builder",
    "journeys:settings",
    "journeys:publish",
    "journeys:add_node",
    "journeys:statistics",
    "journeys:test",
)
def journey_urls(team):
    return {"pk": JourneyFactory(team=team).pk}


@console_case("journeys:action")
def journey_action_urls(team):
    return {"pk": JourneyFactory(team=team).pk, "name": "copy"}


@console_case("journeys:node", "journeys:delete_node", "journeys:split_builder", "journeys:node_stats")
def journey_node_urls(team):
    node = split(VIP)
    journey = JourneyFactory(team=team, draft_graph={"nodes": [node]})
    return {"pk": journey.pk, "node_id": node["id"]}


@console_case("journeys:move")
def journey_move_urls(team):
    """Moving waiting customers names one of the journey's versions too (tests/test_console_tenancy.py posts it)."""
    journey = JourneyFactory(team=team)
    JourneyVersion.objects.create(team=team, journey=journey, number=1, graph={"nodes": []})
    return {"pk": journey.pk}
