"""The console's forms render their fields through one template (templates/partials/field.html, issue 22.13):
each page shows the label, the field with what the user typed, and its error beside it."""

import pytest

from tests.factories import MembershipFactory, TeamFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# (screenshot name, path, the form, a field to type into, the value typed, the field whose error must show)
PAGES = [
    ("settings", "/settings/", "form.form-grid[enctype]", "outbound_webhook_url", "ftp://x", "outbound_webhook_url"),
    ("attributes", "/customers/attributes/", "[data-testid=attribute-create-form]", "key", "bad key!", "key"),
    ("import", "/customers/import/", "form.stack[enctype]", None, None, "file"),
    ("channels", "/messaging/", "[data-testid=connect-form]", "external_id", "U123", "name"),
    ("keywords", "/messaging/keywords/", "[data-testid=rule-form]", "name", "週年慶", "keywords"),
    ("module", "/messaging/modules/new/text_buttons/", "[data-testid=module-form]", "name", "按鈕", "text"),
]
# A choice made before typing: the channels form shows a kind's fields only once that kind is chosen.
CHOOSE_FIRST = {"channels": ("kind", "whatsapp")}


@pytest.fixture
def owner_page(live_server, page):
    team = TeamFactory(slug="fields", name="Fields")
    owner = MembershipFactory(team=team, role="owner").user
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", owner.username)
    page.fill("input[name=password]", "pw-for-tests-123")
    with page.expect_navigation():
        page.click("form.stack button[type=submit]")
    return page


@pytest.mark.parametrize(("name", "path", "form", "typed", "value", "bad"), PAGES, ids=[p[0] for p in PAGES])
def test_each_form_keeps_the_value_and_shows_the_error_beside_its_field(
    live_server, owner_page, screenshot, name, path, form, typed, value, bad
):
    page = owner_page
    page.goto(f"{live_server.url}{path}")
    screenshot(f"fields-{name}")
    page.locator(form).evaluate("f => { f.noValidate = true; }")
    if name in CHOOSE_FIRST:
        select, option = CHOOSE_FIRST[name]
        page.locator(f"{form} [name={select}]").select_option(option)
    if typed:
        page.locator(f"{form} [name={typed}]").fill(value)
    with page.expect_navigation():
        page.locator(f"{form} button[type=submit]").first.click()
    screenshot(f"fields-{name}-errors")
    field = page.locator(f"{form} .field:has([name={bad}])").first
    assert field.locator(".field-error").count() >= 1  # the error sits in its field's box
    assert field.locator(f"[name={bad}]").get_attribute("aria-invalid") == "true"
    label = field.locator("label, span").first.inner_text()
    assert label.strip()
    if typed:
        assert page.locator(f"{form} [name={typed}]").input_value() == value  # what the user typed is kept
