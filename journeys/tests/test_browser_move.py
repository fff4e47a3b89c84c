"""A live journey gets a new version in the builder and its waiting customers are moved to a chosen node of the new
version (the "move" table), in Debian's Chromium, in zh-Hant and English.
Screenshots go to /work/main/screenshots/journeys-move-*.png."""

import os
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from cdp.tests.factories import ContactFactory
from journeys.models import Enrollment
from journeys.tests.factories import delay, enroll_directly, message, node, published_journey
from messaging.tests.factories import ChatbotModuleFactory
from tests.browser.conftest import CHROMIUM, SKIP_REASON, browser, page, screenshot  # noqa: F401
from tests.factories import MembershipFactory

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=SKIP_REASON),
]

TEXT = {
    "zh": {
        "published": "已發佈版本 2。",
        "older": "舊版本中的顧客",
        "dry_run": "將移動 4 位顧客到節點",
        "moved": "已移動 4 位顧客到節點",
        "restart": "移到不同節點時",
        "stats": "旅程觸發次數",
        "builder": ("觸發：貼上任一標籤", "等待 1 天", "排程"),
        "old_node": "時間延遲 · 等待 3 天",
        "target": "（訊息節點 · 機器人模組：",
    },
    "en": {
        "published": "Published version 2.",
        "older": "Customers on older versions",
        "dry_run": "4 customers will move to node",
        "moved": "Moved 4 customers to node",
        "restart": "Moved to a different node, customers start",
        "stats": "Journey triggers",
        "builder": ("Trigger: Tag added", "Wait 1 day\n", "Scheduled"),
        "old_node": "Time delay · Wait 3 days",
        "target": " (Message · Chatbot module: ",
    },
}


@pytest.fixture
def tab(page, live_server, team):  # noqa: F811
    user = MembershipFactory(team=team, role="owner").user
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    return page


def live_journey_with_waiting_customers(team, line, name):
    """v1: wait 3 days → message → tag. Four customers wait on the delay, one is already past it."""
    module = ChatbotModuleFactory(team=team, name=f"{name} 模組")
    wait, send, tag = delay(days=3), message(line, module), node("tags", add=["回購"], remove=[])
    journey = published_journey(team, line, [wait, send, tag], name=name)
    later = timezone.now() + timedelta(days=3)
    for _ in range(4):
        enroll_directly(journey, ContactFactory(channel=line), next_run_at=later, waiting=True)
    past = enroll_directly(journey, ContactFactory(channel=line))
    Enrollment.objects.filter(pk=past.pk).update(node=tag["id"])
    return journey, wait["id"], send["id"]


def publish_and_move(tab, live_server, journey, wait_id, send_id, lang, screenshot):  # noqa: F811
    words = TEXT[lang]
    v1 = journey.current_version
    tab.goto(f"{live_server.url}/journeys/{journey.pk}/")
    tab.wait_for_selector("[data-testid=settings-form]")
    assert tab.locator("[data-testid=older-versions]").count() == 0
    # Edit a node's contents of the live journey (the delay: 3 days → 1 day), then publish version 2.
    tab.click(f"[data-node='{wait_id}'] [data-testid=edit-node]")
    tab.wait_for_selector("#drawer [data-testid=node-form]")
    tab.fill("#drawer input[name=days]", "1")
    tab.click("#drawer [data-testid=save-node]")
    tab.wait_for_selector("#drawer [data-testid=node-form]", state="detached")
    flow = tab.inner_text("#flowcard") + "\n" + tab.inner_text("[data-testid=settings-form]")
    for word in words["builder"]:
        assert word in flow, word
    screenshot(f"journeys-move-builder-edited-{lang}")
    tab.click("[data-testid=publish]")
    tab.wait_for_selector(f"text={words['published']}")
    journey.refresh_from_db()
    v2 = journey.current_version
    assert v2.number == 2 and v2.graph["nodes"][0]["config"]["days"] == 1
    assert v1.graph["nodes"][0]["config"]["days"] == 3  # the old version is untouched

    # The move table: v1's waiting customers per node; move the delay's four to v2's message node.
    table = tab.locator("[data-testid=older-versions]")
    assert words["older"] in table.inner_text()
    cell = f"#move-{v1.pk}-{wait_id}"
    row = tab.locator("[data-testid=older-versions] tbody tr", has=tab.locator(cell))
    assert row.locator("td").nth(0).inner_text() == "v1" and row.locator("td").nth(2).inner_text() == "4"
    assert words["old_node"] in row.locator("[data-testid=old-node]").inner_text()  # named, not a bare id
    tab.select_option(f"{cell} [data-testid=move-target]", send_id)
    tab.click(f"{cell} [data-testid=move-dry-run]")
    tab.wait_for_selector(f"{cell} [data-testid=dry-run-count]")
    assert words["dry_run"] in tab.inner_text(cell) and send_id not in tab.inner_text(
        cell
    )  # issue 20.15: no node codes
    assert words["target"] in tab.inner_text(cell)
    assert words["restart"] in tab.inner_text(cell)
    assert Enrollment.objects.filter(journey=journey, version=v1, node=wait_id).count() == 4  # a dry run only
    screenshot(f"journeys-move-table-{lang}")
    tab.click(f"{cell} [data-testid=move-apply]")
    tab.wait_for_selector(f"{cell} [data-testid=moved]")
    assert words["moved"] in tab.inner_text(cell)
    screenshot(f"journeys-move-done-{lang}")
    moved = Enrollment.objects.filter(journey=journey, version=v2, node=send_id, state="active")
    assert moved.count() == 4 and not moved.filter(waiting=True).exists()
    assert not Enrollment.objects.filter(journey=journey, version=v1, node=wait_id).exists()
    assert Enrollment.objects.filter(journey=journey, version=v1).count() == 1  # the one past the delay stays

    tab.goto(f"{live_server.url}/journeys/{journey.pk}/statistics/")
    tab.wait_for_selector("[data-testid=node-stats]")
    assert words["stats"] in tab.content()
    screenshot(f"journeys-move-statistics-{lang}")


def test_publish_a_new_version_and_move_waiting_customers(tab, live_server, team, line, screenshot):  # noqa: F811
    journey, wait_id, send_id = live_journey_with_waiting_customers(team, line, "回購提醒")
    publish_and_move(tab, live_server, journey, wait_id, send_id, "zh", screenshot)

    tab.context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    journey, wait_id, send_id = live_journey_with_waiting_customers(team, line, "Win-back")
    publish_and_move(tab, live_server, journey, wait_id, send_id, "en", screenshot)
