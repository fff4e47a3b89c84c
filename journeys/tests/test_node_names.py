"""Issue 20.15: the builder names a node by its position and type, never its code or a raw field key; a message
node's drawer shows its statistics (seed 002 「點擊「訊息節點」即可看見該節點數據」)."""

import re

import pytest
from django.urls import reverse
from django.utils import translation

from cdp.tests.factories import ContactFactory
from journeys import labels
from journeys.models import JourneyChannel, NodeRollup
from journeys.tests.factories import JourneyFactory, delay, enroll_directly, message, node, published_journey, split

pytestmark = pytest.mark.django_db


def visible(html):
    """The text a reader sees: no tags, so no attribute (an href may carry a node code)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def test_error_where_names_nodes_and_settings():
    tree = {"op": "and", "children": [{"type": "tag"}]}
    graph = {"nodes": [delay(days=1), split(tree, yes=[node("message")], no=[node("tags")])]}
    first, second = graph["nodes"]
    yes_message, no_tags = second["yes"][0], second["no"][0]
    where = labels.error_where
    with translation.override("zh-hant"):
        assert where(graph, f"nodes.{yes_message['id']}.channel_id") == "第 3 個節點（訊息） · 目標渠道"
        assert where(graph, f"nodes.{no_tags['id']}.add") == "第 4 個節點（標籤） · 新增標籤"
        assert where(graph, f"nodes.{second['id']}.conditions.children[0].tags") == "第 2 個節點（分眾條件） · 條件 1"
        assert where(graph, f"nodes.{first['id']}.delay") == "第 1 個節點（時間延遲）"
        assert where(graph, "nodes.nGONE.delay") == "已刪除的節點"
        assert where(graph, "dnd_segments[1]") == "勿擾時段"
        assert where(graph, "trigger.tags") == "觸發條件"
        assert where(graph, "channels[0].message_cap") == "目標渠道"
        assert where(graph, "something_new") == "旅程設定"
    with translation.override("en"):
        assert where(graph, f"nodes.{yes_message['id']}.channel_id").startswith("Step 3 (Message) · Target channel")
        assert labels.node_name(2, "split") == "Step 2 (Split)"


def test_publish_errors_name_the_node_in_both_languages(console, team, line):
    journey = JourneyFactory(team=team, draft_graph={"nodes": [delay(days=1), node("message"), node("tags")]})
    JourneyChannel.objects.create(team=team, journey=journey, channel=line)
    bad_message, bad_tags = journey.draft_graph["nodes"][1:]
    url = reverse("journeys:publish", args=[journey.pk])
    html = console.post(url, HTTP_HX_REQUEST="true").content.decode()
    text = visible(html)
    assert "第 2 個節點（訊息） · 目標渠道: 請選擇旅程的目標渠道之一。" in text
    assert "第 3 個節點（標籤） · 新增標籤" in text
    assert bad_message["id"] not in text and bad_tags["id"] not in text
    assert "channel_id" not in text and f'href="#node-{bad_message["id"]}"' in html  # the name links to the card
    english = visible(console.post(url, HTTP_HX_REQUEST="true", HTTP_ACCEPT_LANGUAGE="en").content.decode())
    assert "Step 2 (Message) · Target channel" in english and bad_message["id"] not in english
    # A settings error shows its label, never the key.
    JourneyChannel.objects.filter(journey=journey).delete()
    text = visible(console.post(url, HTTP_HX_REQUEST="true").content.decode())
    assert "目標渠道: 請選擇至少一個目標渠道。" in text and "channels:" not in text


def test_node_cards_are_numbered_and_the_drawer_has_no_node_code(console, team, line):
    journey = JourneyFactory(team=team, draft_graph={"nodes": [delay(days=1), node("tags", add=["A"])]})
    tags_node = journey.draft_graph["nodes"][1]
    builder = console.get(reverse("journeys:builder", args=[journey.pk])).content.decode()
    assert 'class="j-step" title="第 2 個節點（標籤）">2</span>' in builder
    drawer = console.get(reverse("journeys:node", args=[journey.pk, tags_node["id"]])).content.decode()
    assert "第 2 個節點（標籤）" in drawer and tags_node["id"] not in visible(drawer)
    bad = console.post(
        reverse("journeys:node", args=[journey.pk, tags_node["id"]]),
        {"add": "A", "remove": "A"},
        HTTP_HX_REQUEST="true",
    )
    assert bad.status_code == 400 and "移除標籤: 新增與移除，不能填入相同標籤" in visible(bad.content.decode())


def test_message_node_statistics_in_the_drawer(console, team, line, module):
    journey = published_journey(team, line, [message(line, module), delay(days=1)])
    sent_node, delay_node = journey.current_version.graph["nodes"]
    enroll_directly(journey, ContactFactory(channel=line))
    NodeRollup.objects.create(
        team=team,
        journey=journey,
        version=journey.current_version,
        node=sent_node["id"],
        channel_kind="line",
        stats={"sent": 1200, "opens": 300, "replies": 12, "clicks": 60, "cost_by_currency": {"TWD": "240.0"}},
    )
    drawer = console.get(reverse("journeys:node", args=[journey.pk, sent_node["id"]])).content.decode()
    stats_url = reverse("journeys:node_stats", args=[journey.pk, sent_node["id"]])
    assert f'hx-get="{stats_url}"' in drawer
    html = console.get(stats_url, HTTP_HX_REQUEST="true").content.decode()
    assert re.search(r'data-stat="waiting">1<', html)
    assert 'data-stat="sent">1,200<' in html and 'data-stat="open">300 · 25.0%<' in html
    assert 'data-stat="ctr">60 · 5.0%<' in html and "NT$240" in html
    english = console.get(stats_url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Step statistics" in english and "Open rate" in english
    # A node of the draft that is not published yet: no figures, and says why.
    no_message = console.get(reverse("journeys:node_stats", args=[journey.pk, delay_node["id"]])).content.decode()
    assert 'data-stat="reached"' in no_message and 'data-stat="sent"' not in no_message
    assert console.get(reverse("journeys:node_stats", args=[journey.pk, "nMISSING"])).status_code == 404


def test_unpublished_node_statistics_say_why(console, team):
    journey = JourneyFactory(team=team, draft_graph={"nodes": [node("message")]})
    url = reverse("journeys:node_stats", args=[journey.pk, journey.draft_graph["nodes"][0]["id"]])
    assert 'data-testid="node-stats-none"' in console.get(url).content.decode()


def test_another_teams_node_statistics_are_404(console, other_team, line, module):
    from cdp.tests.factories import ChannelFactory
    from messaging.tests.factories import ChatbotModuleFactory

    their_line = ChannelFactory(team=other_team, kind="line")
    journey = published_journey(other_team, their_line, [message(their_line, ChatbotModuleFactory(team=other_team))])
    node_id = journey.current_version.graph["nodes"][0]["id"]
    assert console.get(reverse("journeys:node_stats", args=[journey.pk, node_id])).status_code == 404


def test_test_page_outcomes_in_words(console, team, line, module):
    journey = published_journey(team, line, [delay(days=1), message(line, module)])
    contact = ContactFactory(channel=line, display_name="Amy")
    url = reverse("journeys:test", args=[journey.pk])
    html = console.get(url, {"customer": contact.customer_id}, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    steps = visible(html.split('data-outcome="wait"', 1)[1].split("</li>", 1)[0])
    assert "Wait" in steps and ">wait<" not in html
