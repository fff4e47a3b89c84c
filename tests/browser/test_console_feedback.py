"""Every htmx answer is shown and every request shows that it is running (issue 20.8, 20.9): a 400 form is
swapped in place, a whole-page 4xx becomes a toast, and the sending button is disabled while in flight."""

import pytest

from accounts.models import Membership
from tests.factories import MembershipFactory, TeamFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def login(page, live_server, user, language="zh-hant"):
    page.context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", "pw-for-tests-123")
    with page.expect_navigation():
        page.click("form.stack button[type=submit]")


def test_a_4xx_is_shown_and_the_button_waits(live_server, page):
    team = TeamFactory(slug="browser-feedback", name="Feedback")
    owner = MembershipFactory(team=team, role="owner").user
    login(page, live_server, owner, "en")
    page.goto(f"{live_server.url}/settings/")

    # An unknown member email: the 400 form comes back with its error beside the field.
    members = page.locator("#members")
    members.locator("input[name=member-email]").fill("nobody@example.com")
    # Hold the answer back so the in-flight state can be seen.
    held = []
    page.route("**/settings/members/**", lambda route: held.append(route))
    members.locator("button[type=submit]").click()
    page.wait_for_function("document.body.classList.contains('htmx-busy')")
    assert members.locator("button[type=submit]").is_disabled()
    held[0].continue_()
    page.unroute("**/settings/members/**")
    page.get_by_text("No user with this email was found.").wait_for()
    assert members.locator("input[name=member-email]").input_value() == "nobody@example.com"
    assert not members.locator("button[type=submit]").is_disabled()
    assert page.evaluate("document.body.classList.contains('htmx-busy')") is False
    assert Membership.objects.filter(team=team).count() == 1

    # A whole-page answer (here a 404 page) is never swapped into a form: it becomes a toast.
    page.route(
        "**/settings/members/**",
        lambda route: route.fulfill(
            status=404,
            content_type="text/html",
            body="<!doctype html><html><body><p data-error-message>Gone away.</p></body></html>",
        ),
    )
    members.locator("input[name=member-email]").fill("x@example.com")
    members.locator("button[type=submit]").click()
    page.get_by_test_id("toast").get_by_text("Gone away.").wait_for()
    assert page.locator("#members").count() == 1
