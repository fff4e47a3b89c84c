import pytest
from django.http import Http404

from accounts.models import ApiKey
from accounts.tenancy import for_team, get_for_team_or_404
from tests.factories import api_key_for


@pytest.mark.django_db
@pytest.mark.parametrize("bad", [None, "", "abc", "1.5", "-x"])
def test_get_for_team_or_404_rejects_malformed_ids(team, bad):
    with pytest.raises(Http404):
        get_for_team_or_404(ApiKey, team, bad)


@pytest.mark.django_db
def test_get_for_team_or_404_is_team_scoped(team, other_team):
    theirs = api_key_for(other_team).api_key
    mine = api_key_for(team).api_key
    assert get_for_team_or_404(ApiKey, team, str(mine.pk)) == mine
    with pytest.raises(Http404):
        get_for_team_or_404(ApiKey, team, theirs.pk)


def test_for_team_requires_a_team():
    with pytest.raises(ValueError):
        for_team(ApiKey, None)
