"""The points import (社群點數) through the real console pages in a browser, in both languages: choose the kind,
map the columns, see the report; the 360° page lists the rows with source 匯入 / Import."""

import re

import pytest

from cdp.models import Customer
from cdp.tests.factories import CustomerFactory
from cdp.tests.test_browser import login
from tests.browser.conftest import browser, page, screenshot  # noqa: F401  (fixtures)
from tests.factories import MembershipFactory, TeamFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CJK = re.compile(r"[\u3400-\u9fff]")


@pytest.mark.parametrize("language", ["zh-hant", "en"])
def test_points_import_in_the_browser(live_server, page, screenshot, tmp_path, language):  # noqa: F811
    team = TeamFactory(slug=f"points-{language}", name="Points")
    member = CustomerFactory(team=team, member_id="M1", name="王小明")
    user = MembershipFactory(team=team, role="owner").user
    page.context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
    login(page, live_server, user)
    csv = tmp_path / "points.csv"
    csv.write_text("member_id,points,reason\nM1,120,spring\nM404,5,unknown\nM1,-500,too much\n", encoding="utf-8")

    page.goto(f"{live_server.url}/customers/import/")
    screenshot(f"points-import-start-{language}")
    page.check("input[name=kind][value=points]")
    page.set_input_files("input[name=file]", str(csv))
    with page.expect_navigation():
        page.click("form.stack button[type=submit]")
    assert page.locator("select[name=col_1]").input_value() == "points"  # guessed from the header
    screenshot(f"points-import-mapping-{language}")
    with page.expect_navigation():
        page.get_by_test_id("import-run").click()
    progress = page.get_by_test_id("import-progress")
    assert progress.get_attribute("data-status") == "done"
    assert page.get_by_test_id("applied-rows").inner_text() == "1"
    assert page.get_by_test_id("error-rows").inner_text() == "2"
    screenshot(f"points-import-job-{language}")
    if language == "en":
        text = progress.inner_text()
        assert "Social points" in text and "No such customer." in text
        assert not CJK.search(text)

    page.goto(f"{live_server.url}/customers/{member.pk}/")
    card = page.get_by_test_id("points-card")
    assert ("匯入" if language == "zh-hant" else "Import") in card.inner_text()
    assert Customer.objects.get(pk=member.pk).points_balance == 120
