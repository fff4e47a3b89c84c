"""Audience packs and broadcasts in Debian's Chromium, in zh-Hant and English. Screenshots in screenshots/."""

import os

import pytest
from django.test import Client

from audiences.models import AudiencePack
from audiences.tests.factories import AudiencePackFactory
from cdp.models import CustomerTag
from cdp.tests.factories import ChannelFactory, ContactFactory, TagFactory
from tests.browser.conftest import CHROMIUM, SKIP_REASON, browser, page, screenshot  # noqa: F401
from tests.factories import MembershipFactory

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=SKIP_REASON),
]


@pytest.fixture
def world(team):
    line = ChannelFactory(team=team, kind="line", name="官方帳號")
    ig = ChannelFactory(team=team, kind="instagram", name="IG")
    vip = TagFactory(team=team, name="VIP")
    TagFactory(team=team, name="新客")
    contacts = [ContactFactory(channel=line, display_name=f"王小明 {i}") for i in range(4)]
    for contact in contacts[:3]:
        CustomerTag.objects.create(team=team, customer=contact.customer, tag=vip)
    AudiencePackFactory(team=team, channel=ig, name="IG 粉絲")
    return line, vip, contacts


@pytest.fixture
def logged_in(page, live_server, team):  # noqa: F811
    user = MembershipFactory(team=team, role="owner").user
    client = Client()
    client.force_login(user)
    cookie = {"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}
    page.context.add_cookies([cookie])
    return page


def test_build_count_preview_and_drawer(logged_in, live_server, world, screenshot):  # noqa: F811
    page = logged_in  # noqa: F811
    line, vip, contacts = world
    page.goto(f"{live_server.url}/audiences/new/")
    page.fill("[data-testid=pack-name]", "VIP 名單")
    page.select_option("[data-testid=pack-channel]", str(line.pk))
    page.select_option("[data-testid=tags-r\\.0]", str(vip.pk))
    page.click("[data-testid=add-group-r]")
    page.wait_for_selector("[data-path='r.1.0']")
    page.select_option("[data-testid=type-r\\.1\\.0]", "binding")
    page.wait_for_selector("select[name='r.1.0.bound']")
    page.select_option("select[name='r.1.0.bound']", "false")
    page.click("[data-testid=update-count]")
    page.wait_for_selector("[data-testid=count-result] .kpi-value")
    assert page.inner_text("[data-testid=count-result] .kpi-value").strip() == "3"
    page.click("[data-testid=view-list]")
    page.wait_for_selector("[data-testid=preview-row]")
    assert page.locator("[data-testid=preview-row]").count() == 3
    screenshot("audiences-editor-zh")
    page.locator("[data-testid=preview-row]").first.click()
    page.wait_for_selector("[data-testid=customer-drawer]")
    assert "VIP" in page.inner_text("[data-testid=customer-drawer]")
    screenshot("audiences-drawer-zh")
    page.click("[data-testid=customer-drawer] button")
    page.click("[data-testid=save-pack]")
    page.wait_for_selector(".flash-success")
    pack = AudiencePack.objects.get(name="VIP 名單")
    assert pack.conditions["children"][0]["tags"] == [vip.pk]
    assert pack.conditions["children"][1] == {"op": "or", "children": [{"type": "binding", "bound": False}]}


def test_list_in_both_languages(logged_in, live_server, world, screenshot):  # noqa: F811
    page = logged_in  # noqa: F811
    AudiencePackFactory(team=world[0].team, channel=world[0], name="VIP 名單")
    page.goto(f"{live_server.url}/audiences/")
    assert "受眾管理" in page.inner_text("h1") and "IG 粉絲" in page.content()
    screenshot("audiences-list-zh")
    page.context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    page.goto(f"{live_server.url}/audiences/")
    assert "Audience management" in page.inner_text("h1")
    assert "Instagram audiences cannot be broadcast to" in page.content()
    screenshot("audiences-list-en")
    page.goto(f"{live_server.url}/audiences/new/")
    assert "Update count" in page.content() and "Match all of the following (AND)" in page.content()
    screenshot("audiences-editor-en")
    page.goto(f"{live_server.url}/audiences/broadcasts/new/")
    assert "New broadcast" in page.inner_text("h1")
    screenshot("broadcast-new-en")


def test_the_pack_picker_shows_a_pack_made_in_another_tab(logged_in, live_server, world, screenshot):  # noqa: F811
    """Issue 24.11: opening the picker fetches the current list; the choice made before stays chosen."""
    page = logged_in  # noqa: F811
    line, _vip, _contacts = world
    first = AudiencePackFactory(team=line.team, channel=line, name="VIP 名單")
    page.goto(f"{live_server.url}/audiences/broadcasts/new/")
    page.select_option("[data-testid=broadcast-pack]", str(first.pk))
    later = AudiencePackFactory(team=line.team, channel=line, name="另一分頁新建的受眾包")  # another tab
    with page.expect_response(lambda response: "/audiences/broadcasts/packs/" in response.url):
        page.dispatch_event("[data-testid=broadcast-pack]", "mousedown")
    page.wait_for_selector(f"[data-testid=broadcast-pack] option[value='{later.pk}']", state="attached")
    assert page.input_value("[data-testid=broadcast-pack]") == str(first.pk)
    screenshot("broadcast-pack-picker")


def test_scheduling_without_a_time_shows_the_error_and_saves_nothing(logged_in, live_server, world, screenshot):  # noqa: F811
    """Issue 22.1: the editor's "排程推播" with no time answers with the error and leaves no draft behind."""
    from audiences.models import Broadcast
    from messaging.tests.factories import ChatbotModuleFactory

    page = logged_in  # noqa: F811
    line, _vip, _contacts = world
    pack = AudiencePackFactory(team=line.team, channel=line, name="VIP 名單")
    module = ChatbotModuleFactory(team=line.team, name="週年慶訊息")
    page.goto(f"{live_server.url}/audiences/broadcasts/new/")
    page.fill("[data-testid=broadcast-name]", "週年慶")
    page.select_option("[data-testid=broadcast-pack]", str(pack.pk))
    page.select_option("select[name=module_id]", str(module.pk))
    page.click("button[name=action][value=schedule]")
    page.wait_for_selector(".flash-error")
    # Issue 20.4: the error stands beside its field, in words, and everything typed is still there.
    error = page.locator("label:has([data-testid=scheduled-at]) .field-error")
    assert "請填入發送時間" in error.inner_text()
    assert "scheduled_at" not in page.inner_text("#broadcast-form")
    assert page.input_value("[data-testid=broadcast-name]") == "週年慶"
    assert page.input_value("[data-testid=broadcast-pack]") == str(pack.pk)
    assert page.input_value("select[name=module_id]") == str(module.pk)
    assert not Broadcast.objects.exists()
    screenshot("broadcast-schedule-without-time")


def test_send_now_asks_first_with_count_channel_and_cost(logged_in, live_server, world, screenshot):  # noqa: F811
    """Issue 20.4 / 20.5: a LINE broadcast offers modules only and previews the module as a phone bubble;
    「立即發送」 shows recipients, channel and estimated cost, and sends only when that is confirmed."""
    from decimal import Decimal

    from audiences.models import Broadcast
    from messaging.tests.factories import ChatbotModuleFactory

    page = logged_in  # noqa: F811
    line, _vip, _contacts = world
    team = line.team
    team.line_message_cost, team.line_cost_currency = Decimal("0.2"), "TWD"
    team.save()
    pack = AudiencePackFactory(team=team, channel=line, name="全部 LINE")
    module = ChatbotModuleFactory(
        team=team, name="週年慶訊息", type="text_buttons", content={"text": "週年慶開跑", "buttons": []}
    )
    page.goto(f"{live_server.url}/audiences/broadcasts/new/")
    page.fill("[data-testid=broadcast-name]", "週年慶")
    page.select_option("[data-testid=broadcast-pack]", str(pack.pk))
    assert page.locator("select[name=template_id]").is_hidden()  # LINE: no WhatsApp template fields
    assert page.locator("select[name=content_type]").is_hidden()
    page.select_option("select[name=module_id]", str(module.pk))
    page.locator("[data-testid=content-preview]").get_by_text("週年慶開跑").wait_for()

    page.click("[data-testid=send-now]")
    dialog = page.locator("[data-testid=send-confirm]")
    dialog.wait_for()
    assert dialog.locator("[data-testid=confirm-count]").inner_text().startswith("4")
    assert line.name in dialog.locator("[data-testid=confirm-channel]").inner_text()
    assert "NT$0.8" in dialog.locator("[data-testid=confirm-cost]").inner_text()
    screenshot("broadcast-send-confirm")
    dialog.get_by_role("button", name="取消").click()
    assert page.locator("[data-testid=send-confirm]").count() == 0
    assert not Broadcast.objects.exists()  # asking sent nothing

    page.click("[data-testid=send-now]")
    with page.expect_navigation():
        page.click("[data-testid=confirm-send]")
    assert Broadcast.objects.get().status in ("sending", "sent")


def test_the_count_follows_the_conditions_and_says_when_it_is_stale(logged_in, live_server, world):  # noqa: F811
    """Issue 20.6: no button needed; a changed condition marks the count out of date until the new one arrives,
    and a saved pack has its count."""
    page = logged_in  # noqa: F811
    line, vip, _contacts = world
    page.goto(f"{live_server.url}/audiences/new/")
    page.fill("[data-testid=pack-name]", "VIP 名單")
    page.select_option("[data-testid=pack-channel]", str(line.pk))
    page.wait_for_selector("[data-testid=count-result] .field-error")  # the new pack's tag condition has no tag yet
    held = []
    page.route("**/audiences/count/", lambda route: held.append(route))
    page.select_option("[data-testid=tags-r\\.0]", str(vip.pk))
    page.wait_for_selector("[data-stale-note]:visible")
    assert "is-stale" in page.get_attribute("#count-result", "class")
    page.wait_for_timeout(1200)  # past the debounce
    assert held, "the count was not asked for again"
    for route in held:
        route.continue_()
    page.unroute("**/audiences/count/")
    page.wait_for_selector("[data-stale-note]", state="hidden")
    assert page.inner_text("[data-testid=count-result] .kpi-value") == "3"
    with page.expect_navigation():
        page.click("[data-testid=save-pack]")
    assert AudiencePack.objects.get(name="VIP 名單").last_count == 3


def test_tags_are_picked_with_a_searchable_chip_picker(logged_in, live_server, world):  # noqa: F811
    """Issue 20.7: the builder's multi-choice values are chips with a search box, not a 3-row native list."""
    page = logged_in  # noqa: F811
    _line, vip, _contacts = world
    page.goto(f"{live_server.url}/audiences/new/")
    chips = page.locator("[data-testid='chips-r.0.tags']")
    chips.locator(".chip-search").fill("VI")
    option = chips.locator(".chip-option", has_text="VIP")
    option.wait_for()
    assert chips.locator(".chip-option", has_text="新客").count() == 0  # filtered by the search
    option.dispatch_event("mousedown")
    chips.locator(".chip", has_text="VIP").wait_for()
    assert page.eval_on_selector("[data-testid=tags-r\\.0]", "s => [...s.selectedOptions].map(o => o.value)") == [
        str(vip.pk)
    ]
    chips.locator(".chip button").click()
    assert chips.locator(".chip").count() == 0
