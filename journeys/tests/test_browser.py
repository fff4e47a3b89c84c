"""The journey list, builder and statistics pages in Debian's Chromium, in zh-Hant and English.
Screenshots go to /work/main/screenshots/journeys-*.png."""

import os

import pytest
from django.core.management import call_command
from django.test import Client

from audiences.tests.factories import AudiencePackFactory
from cdp.models import Tag
from cdp.tests.factories import TagFactory
from journeys.models import Journey
from tests.browser.conftest import CHROMIUM, SKIP_REASON, browser, page, screenshot  # noqa: F401
from tests.factories import MembershipFactory

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=SKIP_REASON),
]


@pytest.fixture
def logged_in(page, live_server, team):  # noqa: F811
    call_command("seed_demo", team=team.slug, contacts=400, now="2026-06-30", seed=3)
    user = MembershipFactory(team=team, role="owner").user
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    return page


def ready(tab, selector):
    """Wait until HTMX has swapped in and wired up `selector` (new content gets its handlers on settle)."""
    tab.wait_for_function(
        """s => { const e = document.querySelector(s);
                  const wired = !e || !e.matches('[hx-post], [hx-get]') || e['htmx-internal-data'];
                  return e && wired && !document.querySelector('.htmx-request, .htmx-settling'); }""",
        arg=selector,
    )


def build_split_with_the_builder(tab, vip, screenshot, lang):  # noqa: F811
    """In the open split drawer: VIP AND (points ≥ 100 OR checked out within 30 days), with audiences' builder.
    A bad value first: the drawer names the node and marks the condition."""
    ready(tab, "#drawer [data-testid='add-group-r']")
    tab.select_option("#drawer [data-testid='tags-r.0']", label=vip.name)
    tab.click("#drawer [data-testid='add-group-r']")
    ready(tab, "#drawer [data-testid='type-r.1.0']")
    tab.select_option("#drawer [data-testid='type-r.1.0']", "points_balance")
    ready(tab, "#drawer input[name='r.1.0.value']")
    tab.select_option("#drawer [data-testid='op-r.1.0']", "gte")
    tab.wait_for_selector("#drawer [data-testid='op-r.1.0'] option[value=gte][selected]", state="attached")
    ready(tab, "#drawer [data-testid='add-cond-r.1']")
    tab.fill("#drawer input[name='r.1.0.value']", "lots")
    tab.click("#drawer [data-testid='add-cond-r.1']")
    ready(tab, "#drawer [data-testid='type-r.1.1']")
    tab.select_option("#drawer [data-testid='type-r.1.1']", "last_checkout")
    ready(tab, "#drawer input[name='r.1.1.days']")
    assert tab.input_value("#drawer input[name='r.1.0.value']") == "lots"  # builder actions keep what was typed
    tab.click("#drawer [data-testid=save-node]")
    tab.wait_for_selector("#drawer [data-testid=node-errors]")
    errors = tab.inner_text("#drawer [data-testid=node-errors]")
    assert ("分眾條件" if lang == "zh" else "audience split") in errors
    assert ("條件 2 › 1" if lang == "zh" else "Condition 2 › 1") in errors
    assert tab.locator("#drawer [data-path='r.1.0'][data-bad]").count() == 1
    screenshot(f"journeys-split-error-{lang}")
    tab.fill("#drawer input[name='r.1.0.value']", "100")
    screenshot(f"journeys-split-builder-{lang}")
    tab.click("#drawer [data-testid=save-node]")
    tab.wait_for_selector("#drawer [data-testid=node-form]", state="detached")


def test_list_builder_and_statistics_in_both_languages(logged_in, live_server, team, screenshot):  # noqa: F811
    tab = logged_in
    vip = Tag.objects.filter(team=team, name="VIP").first() or TagFactory(team=team, name="VIP")
    pack = AudiencePackFactory(
        team=team,
        name="Bound customers",
        conditions={"op": "or", "children": [{"type": "binding", "bound": True}]},
    )
    tab.goto(f"{live_server.url}/journeys/")
    tab.wait_for_selector("[data-testid=journey-list]")
    assert tab.locator("[data-testid=status-warning]").count() >= 2
    for word in (
        "全渠道顧客旅程",
        "觸發已關閉",
        "旅程已停止",
        "檢視旅程",
        "關閉觸發",
        "找不到自訂屬性或被封存、資料型態被改變",
    ):
        assert word in tab.content()
    screenshot("journeys-list-zh")
    tab.select_option("select[name=status]", "active")
    tab.wait_for_function("document.querySelectorAll('[data-journey]').length === 2")

    # Build a journey: settings, a delay (bad then good), a split with branches, publish.
    tab.goto(f"{live_server.url}/journeys/")
    tab.fill("input[name=name]", "瀏覽器建立的旅程")
    tab.click("text=新增旅程")
    tab.wait_for_selector("[data-testid=settings-form]")
    tab.check("input[name=channel] >> nth=0")
    tab.select_option("#trigger_type", "tag_added")
    tab.fill("input[name=trigger_tag]", "VIP")
    tab.fill("input[name=dnd_start] >> nth=0", "23:00")
    tab.fill("input[name=dnd_end] >> nth=0", "23:59")
    tab.click("[data-testid=save]")
    tab.wait_for_selector("text=已儲存")
    tab.click("[data-testid=plus] >> nth=0")
    tab.click("[data-add=delay] >> nth=0")
    tab.wait_for_selector("#drawer [data-testid=node-form]")
    tab.fill("#drawer input[name=hours]", "0")
    tab.click("#drawer [data-testid=save-node]")
    tab.wait_for_selector("#drawer [data-testid=node-errors]")
    assert "不能為 0" in tab.inner_text("#drawer")
    screenshot("journeys-drawer-error-zh")
    tab.fill("#drawer input[name=days]", "1")
    tab.click("#drawer [data-testid=save-node]")
    tab.wait_for_selector("#drawer [data-testid=node-form]", state="detached")
    tab.click("[data-testid=plus] >> nth=1")
    tab.click("[data-add=split] >> nth=1")
    tab.wait_for_selector("#drawer [data-testid=node-form]")
    build_split_with_the_builder(tab, vip, screenshot, "zh")
    tab.wait_for_selector(".j-branches")
    screenshot("journeys-builder-zh")
    tab.click("[data-testid=publish]")
    tab.wait_for_selector("text=已發佈版本 1。")
    journey = Journey.objects.get(name="瀏覽器建立的旅程")
    assert journey.status == "active" and journey.current_version.number == 1
    assert [n["type"] for n in journey.current_version.graph["nodes"]] == ["delay", "split"]
    assert journey.current_version.graph["nodes"][1]["config"]["conditions"] == {
        "op": "and",
        "children": [
            {"type": "tag", "op": "has", "match": "any", "tags": [vip.pk]},
            {
                "op": "or",
                "children": [
                    {"type": "points_balance", "op": "gte", "value": 100},
                    {"type": "last_checkout", "op": "within_last_days", "days": 30},
                ],
            },
        ],
    }

    demo = Journey.objects.get(team=team, name="購買後關懷")
    tab.goto(f"{live_server.url}/journeys/{demo.pk}/statistics/")
    tab.wait_for_selector("[data-testid=node-stats]")
    assert "旅程觸發次數" in tab.content() and "開封率 (LINE)" in tab.content()
    screenshot("journeys-statistics-zh")

    tab.context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    tab.goto(f"{live_server.url}/journeys/")
    for word in (
        "Omnichannel customer journeys",
        "Trigger closed",
        "Close trigger",
        "Chatbot module",
        "Checkout completed",
    ):
        if word == "Chatbot module":
            continue
        assert word in tab.content(), word
    screenshot("journeys-list-en")
    tab.goto(f"{live_server.url}/journeys/{journey.pk}/")
    tab.wait_for_selector("[data-testid=settings-form]")
    assert "Journey settings" in tab.content() and "Audience split" in tab.content()
    screenshot("journeys-builder-en")

    # In English: a new journey's split starts from an audience pack's conditions, then is built on.
    tab.goto(f"{live_server.url}/journeys/")
    tab.fill("input[name=name]", "English split")
    tab.click("text=New journey")
    tab.wait_for_selector("[data-testid=settings-form]")
    tab.click("[data-testid=plus] >> nth=0")
    tab.click("[data-add=split] >> nth=0")
    tab.wait_for_selector("#drawer [data-testid=node-form]")
    assert "Copy conditions from an audience pack" in tab.inner_text("#drawer")
    ready(tab, "#drawer [data-testid=copy-pack-apply]")
    tab.select_option("#drawer [data-testid=copy-pack-select]", str(pack.pk))
    tab.click("#drawer [data-testid=copy-pack-apply]")
    ready(tab, "#drawer select[name='r.0.bound']")
    assert tab.input_value("#drawer select[name='r.op']") == "or"
    tab.select_option("#drawer select[name='r.op']", "and")
    tab.click("#drawer [data-testid='add-cond-r']")
    ready(tab, "#drawer [data-testid='tags-r.1']")
    tab.select_option("#drawer [data-testid='tags-r.1']", label=vip.name)
    tab.click("#drawer [data-testid='add-group-r']")
    ready(tab, "#drawer [data-testid='type-r.2.0']")
    tab.select_option("#drawer [data-testid='type-r.2.0']", "points_balance")
    ready(tab, "#drawer input[name='r.2.0.value']")
    tab.fill("#drawer input[name='r.2.0.value']", "")
    tab.click("#drawer [data-testid=save-node]")
    tab.wait_for_selector("#drawer [data-testid=node-errors]")
    errors = tab.inner_text("#drawer [data-testid=node-errors]")
    assert "Step 1 (Split) · Condition 3 › 1" in errors  # the node by its position, never its code
    screenshot("journeys-split-error-en")
    tab.fill("#drawer input[name='r.2.0.value']", "5")
    screenshot("journeys-split-builder-en")
    tab.click("#drawer [data-testid=save-node]")
    tab.wait_for_selector("#drawer [data-testid=node-form]", state="detached")
    english = Journey.objects.get(name="English split")
    assert english.draft_graph["nodes"][0]["config"]["conditions"] == {
        "op": "and",
        "children": [
            {"type": "binding", "bound": True},
            {"type": "tag", "op": "has", "match": "any", "tags": [vip.pk]},
            {"op": "or", "children": [{"type": "points_balance", "op": "eq", "value": 5}]},
        ],
    }

    tab.goto(f"{live_server.url}/journeys/{demo.pk}/statistics/")
    assert "Journey triggers" in tab.content() and "Open rate (LINE)" in tab.content()
    screenshot("journeys-statistics-en")


def test_demo_journey_statistics_pages_show_nested_funnels(logged_in, live_server, team, screenshot):  # noqa: F811
    """Issue 24 item 7: on every demo journey's statistics page, no node's children were reached by more customers
    than the node (a split's two branches together included)."""
    from journeys import graph as g

    tab = logged_in
    for journey in Journey.objects.filter(team=team).exclude(current_version=None):
        tab.goto(f"{live_server.url}/journeys/{journey.pk}/statistics/")
        tab.wait_for_selector("[data-testid=node-stats]")
        shown = {
            row.get_attribute("data-node"): int(row.query_selector_all("td")[1].inner_text())
            for row in tab.query_selector_all("[data-testid=node-stats] tr[data-node]")
        }
        compiled = g.compile_graph(journey.current_version.graph)
        assert set(shown) == set(compiled.order)
        for node_id in compiled.order:
            node = compiled.nodes[node_id]
            children = [node["yes"], node["no"]] if node["type"] == "split" else [node["next"]]
            assert sum(shown[child] for child in children if child) <= shown[node_id], (journey.name, node)
        if any(node["type"] == "split" for node in compiled.nodes.values()):
            split = next(node for node in compiled.nodes.values() if node["type"] == "split")
            assert shown[split["yes"]] > 0 and shown[split["no"]] > 0
            screenshot("journeys-statistics-funnel")
