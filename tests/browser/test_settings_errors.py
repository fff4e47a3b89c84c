"""The settings page's HTMX forms show their 400 answers in place: a role above your own, the last owner."""

import pytest

from accounts.models import ApiKey, Membership
from tests.factories import MembershipFactory, TeamFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_refused_roles_are_shown_beside_the_form(live_server, page):
    team = TeamFactory(slug="browser-roles", name="Roles")
    owner = MembershipFactory(team=team, role="owner")
    admin = MembershipFactory(team=team, role="admin").user
    page.context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", admin.username)
    page.fill("input[name=password]", "pw-for-tests-123")
    with page.expect_navigation():
        page.click("form.stack button[type=submit]")
    page.goto(f"{live_server.url}/settings/")

    keys = page.locator("#api-keys")
    keys.locator("input[name=key-name]").fill("escalate")
    keys.locator("select[name=key-role]").select_option("owner")
    keys.locator("button[type=submit]").click()
    page.get_by_text("Only an owner can assign the owner role.").wait_for()
    assert not ApiKey.objects.filter(name="escalate").exists()

    members = page.locator("#members")
    members.locator("input[name=member-email]").fill(owner.user.email)
    members.locator("select[name=member-role]").select_option("agent")
    members.locator("button[type=submit]").click()
    page.get_by_text("Only an owner can change an owner's role.").wait_for()
    assert Membership.objects.get(pk=owner.pk).role == "owner"
