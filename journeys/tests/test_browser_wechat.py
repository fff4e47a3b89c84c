"""A journey message node on a WeChat target in Debian's Chromium, in zh-Hant and English: the drawer sets a
WeChat template message (template id, 「欄位: 內容」 lines, link). Screenshots go to
screenshots/journeys-wechat-*.png."""

import os

import pytest

from cdp.tests.factories import ChannelFactory
from journeys import services
from journeys.graph import find_node
from journeys.models import JourneyChannel
from journeys.tests.factories import JourneyFactory
from tests.browser.conftest import CHROMIUM, SKIP_REASON, browser, logged_in, page, screenshot  # noqa: F401

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=SKIP_REASON),
]


def test_the_message_drawer_sets_a_wechat_template(logged_in, live_server, team, screenshot):  # noqa: F811
    wechat = ChannelFactory(team=team, kind="wechat", is_sandbox=True, name="WeChat 服務號")
    tab = logged_in
    for lang in ("zh", "en"):
        if lang == "en":
            tab.context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
        journey = JourneyFactory(team=team, name=f"WeChat 旅程 {lang}")
        JourneyChannel.objects.create(team=team, journey=journey, channel=wechat)
        node = services.add_node(journey, type="message")
        tab.goto(f"{live_server.url}/journeys/{journey.pk}/")
        tab.click(f"#node-{node['id']} [data-testid=edit-node]")
        tab.wait_for_selector("#drawer [data-testid=wechat-template-fields]")
        tab.select_option("#drawer select[name=channel_id]", str(wechat.pk))
        tab.select_option("#drawer select[name=kind]", "wechat_template")
        tab.fill("#drawer input[name=wechat_template_id]", "TPL_WELCOME")
        tab.fill("#drawer textarea[name=wechat_data]", "first: 歡迎\nkeyword1: VIP")
        screenshot(f"journeys-wechat-drawer-{lang}")
        tab.click("#drawer [data-testid=save-node]")
        tab.wait_for_selector("#drawer [data-testid=node-form]", state="detached")
        journey.refresh_from_db()
        config = find_node(journey.draft_graph, node["id"])["config"]
        assert (config["kind"], config["template_id"], config["data"]) == (
            "wechat_template",
            "TPL_WELCOME",
            {"first": "歡迎", "keyword1": "VIP"},
        )
