import pytest
from django.urls import reverse

from accounts.permissions import PERMISSIONS, ROLE_PERMISSIONS, Role, role_has_permission
from tests.factories import MembershipFactory, api_client_for


def test_every_role_has_a_row_and_only_known_permissions():
    assert set(ROLE_PERMISSIONS) == set(Role.values)
    for perms in ROLE_PERMISSIONS.values():
        assert perms <= set(PERMISSIONS)


@pytest.mark.parametrize(
    "role,permission,allowed",
    [
        (Role.OWNER, "billing.manage", True),
        (Role.ADMIN, "billing.manage", False),
        (Role.ADMIN, "team.manage", True),
        (Role.MARKETER, "journeys.manage", True),
        (Role.MARKETER, "conversations.export", False),
        (Role.MARKETER, "team.manage", False),
        (Role.CS_MANAGER, "conversations.export", True),
        (Role.CS_MANAGER, "broadcasts.manage", False),
        (Role.SALES_MANAGER, "conversations.export", True),
        (Role.SALES_MANAGER, "customers.import", False),
        (Role.AGENT, "conversations.reply", True),
        (Role.AGENT, "customers.edit", False),
        (Role.AGENT, "analytics.view", False),
    ],
)
def test_matrix(role, permission, allowed):
    assert role_has_permission(role, permission) is allowed


def test_unknown_permission_is_an_error():
    with pytest.raises(KeyError):
        role_has_permission(Role.OWNER, "nonsense")


@pytest.mark.django_db
@pytest.mark.parametrize("role,status", [(Role.OWNER, 200), (Role.ADMIN, 200), (Role.MARKETER, 403), (Role.AGENT, 403)])
def test_settings_page_enforces_team_manage(client, team, role, status):
    user = MembershipFactory(team=team, role=role).user
    client.force_login(user)
    assert client.get(reverse("team-settings")).status_code == status


@pytest.mark.django_db
@pytest.mark.parametrize("role,status", [(Role.ADMIN, 200), (Role.MARKETER, 403), (Role.CS_MANAGER, 403)])
def test_api_enforces_the_matrix_for_keys(team, role, status):
    client = api_client_for(team, role=role)
    response = client.get("/api/v1/api-keys")
    assert response.status_code == status
    if status == 403:
        assert response.json()["error"]["code"] == "permission_denied"
