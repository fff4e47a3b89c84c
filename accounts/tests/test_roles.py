"""Nobody grants a role above their own (API keys, members), and a team always keeps an owner whom only an owner
changes or removes: on every path (console, API, Django admin), all through accounts.services."""

import pytest
from django.conf import settings
from django.urls import reverse

from accounts.models import ApiKey, Membership
from accounts.permissions import Role, role_may_grant
from accounts.services import RoleError, add_member, create_api_key, remove_member
from tests.factories import MembershipFactory, UserFactory, api_client_for


@pytest.mark.parametrize(
    "role,granted,allowed",
    [
        (Role.OWNER, Role.OWNER, True),
        (Role.OWNER, Role.AGENT, True),
        (Role.ADMIN, Role.OWNER, False),
        (Role.ADMIN, Role.ADMIN, True),
        (Role.ADMIN, Role.MARKETER, True),
        (Role.MARKETER, Role.CS_MANAGER, False),  # neither role's permissions contain the other's
        (Role.CS_MANAGER, Role.SALES_MANAGER, True),
        (Role.SALES_MANAGER, Role.CS_MANAGER, False),
        (Role.AGENT, Role.MARKETER, False),
        (Role.AGENT, Role.AGENT, True),
        (Role.ADMIN, "emperor", False),
    ],
)
def test_role_may_grant_only_what_it_holds(role, granted, allowed):
    assert role_may_grant(role, granted) is allowed


# ---------------------------------------------------------------------------------------------- API keys


@pytest.mark.django_db
class TestApiKeyRoles:
    def test_service_refuses_a_key_above_the_granter(self, team):
        with pytest.raises(RoleError) as caught:
            create_api_key(team=team, name="escalate", role=Role.OWNER, granted_by=Role.ADMIN)
        assert caught.value.error_dict["role"][0].code == "role_above_own"
        assert not ApiKey.objects.filter(name="escalate").exists()

    def test_api_admin_key_cannot_create_an_owner_key(self, team):
        admin = api_client_for(team, role=Role.ADMIN)
        response = admin.post("/api/v1/api-keys", {"name": "escalate", "role": "owner"}, format="json")
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "invalid" and "role" in error["fields"]
        assert not ApiKey.objects.filter(name="escalate").exists()

    def test_api_admin_key_may_create_admin_and_below(self, team):
        admin = api_client_for(team, role=Role.ADMIN)
        for role in ("admin", "agent"):
            assert admin.post("/api/v1/api-keys", {"name": role, "role": role}, format="json").status_code == 201

    def test_api_owner_key_may_create_an_owner_key(self, team):
        owner = api_client_for(team, role=Role.OWNER)
        response = owner.post("/api/v1/api-keys", {"name": "owner key", "role": "owner"}, format="json")
        assert response.status_code == 201 and response.json()["role"] == "owner"

    def test_api_key_default_role_is_checked_too(self, team):
        """A key created without a role is an admin key: a lesser credential may not mint one."""
        from accounts.permissions import ROLE_PERMISSIONS

        assert ROLE_PERMISSIONS[Role.ADMIN] > ROLE_PERMISSIONS[Role.CS_MANAGER]
        assert not role_may_grant(Role.CS_MANAGER, Role.ADMIN)

    def test_console_admin_cannot_create_an_owner_key(self, client, team):
        client.force_login(MembershipFactory(team=team, role=Role.ADMIN).user)
        response = client.post(
            reverse("api-key-create"), {"key-name": "escalate", "key-role": "owner"}, HTTP_HX_REQUEST="true"
        )
        assert response.status_code == 400
        assert "只有擁有者可以指派擁有者。" in response.content.decode()
        assert not ApiKey.objects.filter(name="escalate").exists()

    def test_console_owner_creates_an_owner_key(self, console, team):
        response = console.post(reverse("api-key-create"), {"key-name": "mine", "key-role": "owner"})
        assert response.status_code == 200
        assert ApiKey.objects.get(team=team, name="mine").role == Role.OWNER

    def test_admin_site_cannot_add_keys(self, client):
        client.force_login(UserFactory(is_staff=True, is_superuser=True))
        assert client.get("/admin/accounts/apikey/add/").status_code == 403


# ---------------------------------------------------------------------------------------------- members


def _post_member(client, email, role):
    return client.post(reverse("member-add"), {"member-email": email, "member-role": role}, HTTP_HX_REQUEST="true")


@pytest.mark.django_db
class TestOwnersConsole:
    def test_admin_cannot_demote_the_only_owner_by_re_adding_them(self, client, team):
        """The reported bug: re-adding the only owner with a lower role left the team with none."""
        owner = MembershipFactory(team=team, role=Role.OWNER)
        client.force_login(MembershipFactory(team=team, role=Role.ADMIN).user)
        response = _post_member(client, owner.user.email, "agent")
        assert response.status_code == 400
        assert "只有擁有者可以變更擁有者的角色。" in response.content.decode()
        owner.refresh_from_db()
        assert owner.role == Role.OWNER

    def test_admin_cannot_demote_one_of_two_owners(self, client, team):
        first, second = MembershipFactory(team=team, role=Role.OWNER), MembershipFactory(team=team, role=Role.OWNER)
        client.force_login(MembershipFactory(team=team, role=Role.ADMIN).user)
        assert _post_member(client, second.user.email, "admin").status_code == 400
        assert set(Membership.objects.filter(team=team, role=Role.OWNER)) == {first, second}

    def test_admin_cannot_appoint_an_owner(self, client, team):
        MembershipFactory(team=team, role=Role.OWNER)
        newcomer = UserFactory()
        client.force_login(MembershipFactory(team=team, role=Role.ADMIN).user)
        assert _post_member(client, newcomer.email, "owner").status_code == 400
        assert not Membership.objects.filter(team=team, user=newcomer).exists()

    def test_the_only_owner_cannot_demote_themself(self, client, team):
        owner = MembershipFactory(team=team, role=Role.OWNER)
        client.force_login(owner.user)
        response = _post_member(client, owner.user.email, "admin")
        assert response.status_code == 400 and "團隊至少要有一位擁有者。" in response.content.decode()
        owner.refresh_from_db()
        assert owner.role == Role.OWNER

    def test_an_owner_changes_another_owners_role(self, client, team):
        owner, other = MembershipFactory(team=team, role=Role.OWNER), MembershipFactory(team=team, role=Role.OWNER)
        client.force_login(owner.user)
        assert _post_member(client, other.user.email, "marketer").status_code == 200
        other.refresh_from_db()
        assert other.role == Role.MARKETER

    def test_admin_changes_a_lower_role(self, client, team):
        member = MembershipFactory(team=team, role=Role.AGENT)
        client.force_login(MembershipFactory(team=team, role=Role.ADMIN).user)
        assert _post_member(client, member.user.email, "marketer").status_code == 200
        member.refresh_from_db()
        assert member.role == Role.MARKETER

    def test_admin_cannot_remove_an_owner_even_with_two(self, client, team):
        owner, _other = MembershipFactory(team=team, role=Role.OWNER), MembershipFactory(team=team, role=Role.OWNER)
        client.force_login(MembershipFactory(team=team, role=Role.ADMIN).user)
        response = client.post(reverse("member-remove", args=[owner.pk]), HTTP_HX_REQUEST="true")
        assert response.status_code == 400 and "只有擁有者可以移除擁有者。" in response.content.decode()
        assert Membership.objects.filter(pk=owner.pk).exists()

    def test_the_only_owner_cannot_remove_themself(self, client, team):
        owner = MembershipFactory(team=team, role=Role.OWNER)
        client.force_login(owner.user)
        assert client.post(reverse("member-remove", args=[owner.pk])).status_code == 400
        assert Membership.objects.filter(pk=owner.pk).exists()

    def test_an_owner_removes_another_owner(self, client, team):
        owner, other = MembershipFactory(team=team, role=Role.OWNER), MembershipFactory(team=team, role=Role.OWNER)
        client.force_login(owner.user)
        assert client.post(reverse("member-remove", args=[other.pk])).status_code == 200
        assert not Membership.objects.filter(pk=other.pk).exists()


@pytest.mark.django_db
class TestOwnersService:
    def test_system_callers_still_keep_an_owner(self, team):
        owner = MembershipFactory(team=team, role=Role.OWNER)
        with pytest.raises(RoleError):
            add_member(team=team, user=owner.user, role=Role.ADMIN, acting=None)
        with pytest.raises(RoleError):
            remove_member(team=team, membership=owner, acting=None)
        owner.refresh_from_db()
        assert owner.role == Role.OWNER

    def test_other_teams_owners_do_not_count(self, team, other_team):
        owner = MembershipFactory(team=team, role=Role.OWNER)
        MembershipFactory(team=other_team, role=Role.OWNER, user=owner.user)
        with pytest.raises(RoleError):
            add_member(team=team, user=owner.user, role=Role.AGENT, acting=owner)


# ---------------------------------------------------------------------------------------------- Django admin


@pytest.fixture
def staff(client):
    client.force_login(UserFactory(username="staff@example.com", is_staff=True, is_superuser=True))
    return client


@pytest.mark.django_db
class TestOwnersAdmin:
    def _change(self, staff, membership, role):
        url = reverse("admin:accounts_membership_change", args=[membership.pk])
        return staff.post(url, {"role": role})

    def test_demoting_the_only_owner_is_a_form_error(self, staff, team):
        owner = MembershipFactory(team=team, role=Role.OWNER)
        response = self._change(staff, owner, "agent")
        assert response.status_code == 200 and "團隊至少要有一位擁有者。" in response.content.decode()
        owner.refresh_from_db()
        assert owner.role == Role.OWNER

    def test_the_operator_changes_a_role_when_another_owner_remains(self, staff, team):
        owner, _other = MembershipFactory(team=team, role=Role.OWNER), MembershipFactory(team=team, role=Role.OWNER)
        assert self._change(staff, owner, "admin").status_code == 302
        owner.refresh_from_db()
        assert owner.role == Role.ADMIN

    def test_deleting_the_only_owner_is_refused(self, staff, team):
        owner = MembershipFactory(team=team, role=Role.OWNER)
        url = reverse("admin:accounts_membership_delete", args=[owner.pk])
        assert staff.get(url).status_code == 403
        assert staff.post(url, {"post": "yes"}).status_code == 403
        assert Membership.objects.filter(pk=owner.pk).exists()

    def test_deleting_one_of_two_owners_works(self, staff, team):
        owner, _other = MembershipFactory(team=team, role=Role.OWNER), MembershipFactory(team=team, role=Role.OWNER)
        url = reverse("admin:accounts_membership_delete", args=[owner.pk])
        assert staff.post(url, {"post": "yes"}).status_code == 302
        assert not Membership.objects.filter(pk=owner.pk).exists()

    def test_bulk_delete_is_not_offered(self, staff, team):
        owner = MembershipFactory(team=team, role=Role.OWNER)
        changelist = reverse("admin:accounts_membership_changelist")
        staff.post(changelist, {"action": "delete_selected", "_selected_action": [owner.pk], "post": "yes"})
        assert Membership.objects.filter(pk=owner.pk).exists()

    def test_team_page_does_not_edit_members(self, staff, team):
        owner = MembershipFactory(team=team, role=Role.OWNER)
        url = reverse("admin:accounts_team_change", args=[team.pk])
        html = staff.get(url).content.decode()
        assert 'name="memberships-0-role"' not in html and 'name="memberships-0-DELETE"' not in html
        assert owner.user.username in html


@pytest.mark.postgres
@pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL row locks and concurrent connections")
@pytest.mark.django_db(transaction=True)
def test_two_owners_demoting_each_other_at_once_leave_one(team):
    """Each change locks the team's owner rows first, so the second sees the first's result."""
    import threading

    from django.db import connection

    first, second = MembershipFactory(team=team, role=Role.OWNER), MembershipFactory(team=team, role=Role.OWNER)
    barrier, errors = threading.Barrier(2), []

    def demote(target, acting):
        try:
            barrier.wait()
            add_member(team=team, user=target.user, role=Role.ADMIN, acting=acting)
        except RoleError as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=demote, args=pair) for pair in ((first, second), (second, first))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 1
    assert Membership.objects.filter(team=team, role=Role.OWNER).count() == 1
