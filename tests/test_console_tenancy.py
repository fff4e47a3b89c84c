"""A logged-in member of team B gets 404 from every console URL that names one of team A's objects: never 403
(which would confirm the id exists), never 200, never 500. The console twin of tests/test_tenancy.py."""

import pytest

from journeys.models import JourneyVersion
from tests.console_urls import console_routes
from tests.factories import MembershipFactory

ROUTES = [route for route in console_routes() if route.has_object_id]

# What team A's owner posts to show the URL is real (an empty form answers 404 here for another reason).
OWNER_POSTS = {
    "cdp:attribute-update": lambda kwargs: {"action": "archive"},
    "journeys:move": lambda kwargs: {"version": JourneyVersion.objects.get(journey_id=kwargs["pk"]).pk},
}


def test_the_walk_covers_the_console():
    assert len(ROUTES) > 40


@pytest.mark.django_db
@pytest.mark.parametrize("route", ROUTES, ids=[route.name for route in ROUTES])
def test_other_team_gets_404(client, route, team, other_team):
    kwargs = route.case(team)
    url = route.url(kwargs)
    client.force_login(MembershipFactory(team=other_team, role="owner").user)
    answers = {method: getattr(client, method)(url).status_code for method in ("get", "post")}
    assert set(answers.values()) <= {404, 405} and 404 in answers.values(), answers
    if route.name in OWNER_POSTS:
        assert client.post(url, OWNER_POSTS[route.name](kwargs)).status_code == 404

    # The same URL is real for team A's owner, so the 404 above came from the team scope.
    client.force_login(MembershipFactory(team=team, role="owner").user)
    if answers["get"] == 404:
        own = client.get(url).status_code
    else:
        own = client.post(url, OWNER_POSTS.get(route.name, lambda kwargs: {})(kwargs)).status_code
    assert own not in (403, 404) and own < 500, own
