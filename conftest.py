"""Project-wide test set-up: fast settings, factories and the fixtures every app's tests use."""

import pytest


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": "100000/min"}}
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _replica_only_for_replica_tests(request, monkeypatch):
    """With DATABASE_REPLICA_URL set, only tests marked `replica` read the standby: the others' rows live in a
    test transaction the standby never sees."""
    if "replica" not in request.keywords:
        monkeypatch.setattr("core.replica.configured", lambda: False)


@pytest.fixture
def team(db):
    from tests.factories import TeamFactory

    return TeamFactory(slug="team-a", name="Team A")


@pytest.fixture
def other_team(db):
    from tests.factories import TeamFactory

    return TeamFactory(slug="team-b", name="Team B")


@pytest.fixture
def owner(team):
    from tests.factories import MembershipFactory

    return MembershipFactory(team=team, role="owner").user


@pytest.fixture
def console(client, owner):
    """A Django test client logged in as the owner of `team`."""
    client.force_login(owner)
    return client


@pytest.fixture
def api(team):
    """An API client authenticated with an admin key of `team`."""
    from tests.factories import api_client_for

    return api_client_for(team)


@pytest.fixture
def other_api(other_team):
    from tests.factories import api_client_for

    return api_client_for(other_team)
