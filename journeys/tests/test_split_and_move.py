"""The split node's drawer embeds audiences' condition builder (nested groups through the HTMX endpoint, every
condition type, copy from an audience pack, the bad condition named); waiting customers of an older version are
moved to a chosen node of the new version (dry run first, set-based)."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from audiences.tests.factories import AudiencePackFactory
from cdp.models import CustomerTag
from cdp.tests.factories import ContactFactory, TagFactory
from journeys import engine, services
from journeys.models import Enrollment, Journey, JourneyChannel
from journeys.tests.factories import JourneyFactory, delay, enroll_directly, node, published_journey

pytestmark = pytest.mark.django_db


def run_all(now=None):
    while True:
        ids, token = engine.claim(500, now=now)
        if not ids:
            return
        engine.process(ids, token, now=now)


@pytest.fixture
def draft_split(team, line):
    journey = JourneyFactory(team=team)
    JourneyChannel.objects.create(team=team, journey=journey, channel=line)
    split = services.add_node(journey, type="split")
    return journey, split["id"]


def nested_form(vip, **extra):
    """VIP AND (points ≥ 100 OR checked out within 30 days), as the builder posts it."""
    data = {
        "r.kind": "group",
        "r.op": "and",
        "r.0.kind": "cond",
        "r.0.type": "tag",
        "r.0.op": "has",
        "r.0.match": "any",
        "r.0.tags": [vip.pk],
        "r.1.kind": "group",
        "r.1.op": "or",
        "r.1.0.kind": "cond",
        "r.1.0.type": "points_balance",
        "r.1.0.op": "gte",
        "r.1.0.value": "100",
        "r.1.1.kind": "cond",
        "r.1.1.type": "last_checkout",
        "r.1.1.op": "within_last_days",
        "r.1.1.days": "30",
    }
    data.update(extra)
    return data


def test_split_drawer_embeds_the_audience_builder(console, team, draft_split):
    journey, split_id = draft_split
    html = console.get(reverse("journeys:node", args=[journey.pk, split_id]), HTTP_HX_REQUEST="true").content.decode()
    builder_url = reverse("journeys:split_builder", args=[journey.pk, split_id])
    assert 'data-testid="builder"' in html and f'hx-post="{builder_url}"' in html
    assert reverse("audiences:builder") not in html  # the journey's own endpoint (journeys.manage), not audiences'
    assert "conditions_json" not in html and "row0_type" not in html  # no JSON box, no fixed rows
    for label in ("標籤", "自訂屬性", "客人最後互動時間", "社群身份綁定", "點數餘額", "新聯絡人來源", "渠道"):
        assert label in html


def test_building_a_nested_condition_through_the_htmx_endpoints(console, team, draft_split):
    journey, split_id = draft_split
    vip = TagFactory(team=team, name="VIP")
    url = reverse("journeys:split_builder", args=[journey.pk, split_id])
    start = {"r.kind": "group", "r.op": "and", "r.0.kind": "cond", "r.0.type": "tag", "r.0.op": "has"}
    body = console.post(url, {**start, "action": "add_group:r"}, HTTP_HX_REQUEST="true").content.decode()
    assert 'name="r.1.kind" value="group"' in body and 'name="r.1.0.kind" value="cond"' in body
    assert f'hx-post="{url}"' in body  # the re-rendered builder keeps posting to the journey endpoint
    grown = {**start, "r.1.kind": "group", "r.1.op": "or", "r.1.0.kind": "cond", "r.1.0.type": "points_balance"}
    body = console.post(url, {**grown, "action": "retype:r.1.0"}, HTTP_HX_REQUEST="true").content.decode()
    assert 'name="r.1.0.op"' in body and 'value="gte"' in body
    body = console.post(url, {**grown, "action": "add_cond:r.1"}, HTTP_HX_REQUEST="true").content.decode()
    assert 'name="r.1.1.kind" value="cond"' in body
    body = console.post(url, {**grown, "action": "remove:r.1"}, HTTP_HX_REQUEST="true").content.decode()
    assert 'name="r.1.kind"' not in body
    # Nothing is stored by builder actions.
    journey.refresh_from_db()
    assert journey.draft_graph["nodes"][0]["config"]["conditions"] == {"op": "and", "children": []}

    saved = console.post(
        reverse("journeys:node", args=[journey.pk, split_id]), nested_form(vip), HTTP_HX_REQUEST="true"
    )
    assert saved.status_code == 200, saved.content.decode()[:800]
    journey.refresh_from_db()
    assert journey.draft_graph["nodes"][0]["config"]["conditions"] == {
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
    # Reopening the drawer shows the stored tree in the builder.
    html = console.get(reverse("journeys:node", args=[journey.pk, split_id]), HTTP_HX_REQUEST="true").content.decode()
    assert 'name="r.1.1.days" value="30"' in html and 'name="r.1.op"' in html


def test_an_invalid_condition_names_its_node_and_row(console, team, draft_split):
    journey, split_id = draft_split
    vip = TagFactory(team=team, name="VIP")
    bad = nested_form(vip, **{"r.1.1.days": "0"})
    response = console.post(reverse("journeys:node", args=[journey.pk, split_id]), bad, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 400
    assert response["HX-Retarget"] == "#drawer"
    # The node by its position and type, never its code (issue 20.15).
    assert "第 1 個節點（分眾條件） · 條件 2 › 2" in html and f"{split_id}（" not in html
    assert 'data-field="conditions.children[1].children[1].days"' in html
    assert 'data-path="r.1.1" data-bad="1"' in html  # the bad row is marked in the builder
    assert 'name="r.1.1.days" value="0"' in html  # what the marketer typed is kept
    journey.refresh_from_db()
    assert journey.draft_graph["nodes"][0]["config"]["conditions"] == {"op": "and", "children": []}
    # An empty condition list is refused too.
    url = reverse("journeys:node", args=[journey.pk, split_id])
    empty = console.post(url, {"r.kind": "group", "r.op": "and"}, HTTP_HX_REQUEST="true")
    assert empty.status_code == 400 and "第 1 個節點（分眾條件）" in empty.content.decode()


def test_publish_names_the_bad_condition(console, team, line):
    journey = JourneyFactory(team=team)
    JourneyChannel.objects.create(team=team, journey=journey, channel=line)
    bad = node("split", conditions={"op": "and", "children": [{"type": "tag", "op": "has", "tags": []}]})
    bad["yes"], bad["no"] = [], []
    services.set_graph(journey, {"nodes": [bad]})
    response = console.post(reverse("journeys:publish", args=[journey.pk]), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 400 and f"#node-{bad['id']}" in html
    assert '">第 1 個節點（分眾條件） · 條件 1</a>: ' in html and f">{bad['id']}" not in html


def test_copying_an_audience_packs_conditions(console, team, other_team, draft_split):
    journey, split_id = draft_split
    vip = TagFactory(team=team, name="VIP")
    tree = {
        "op": "or",
        "children": [
            {"type": "tag", "op": "has", "match": "all", "tags": [vip.pk]},
            {"type": "binding", "bound": True},
        ],
    }
    pack = AudiencePackFactory(team=team, name="VIP 受眾", conditions=tree)
    foreign = AudiencePackFactory(team=other_team, name="別隊", conditions=tree)
    drawer = console.get(reverse("journeys:node", args=[journey.pk, split_id])).content.decode()
    assert "VIP 受眾" in drawer and "別隊" not in drawer
    url = reverse("journeys:split_builder", args=[journey.pk, split_id])
    form = {"r.kind": "group", "r.op": "and", "r.0.kind": "cond", "r.0.type": "tag", "action": "copy_pack"}
    body = console.post(url, {**form, "from_pack": pack.pk}, HTTP_HX_REQUEST="true").content.decode()
    assert 'name="r.1.kind" value="cond"' in body and 'name="r.1.bound"' in body
    assert '<option value="or" selected' in body
    unchanged = console.post(url, {**form, "from_pack": foreign.pk}, HTTP_HX_REQUEST="true").content.decode()
    assert 'name="r.1.kind"' not in unchanged  # another team's pack is not found: the tree stays as it was
    # Saving stores a copy: later edits of the pack do not change the node.
    saved = console.post(
        reverse("journeys:node", args=[journey.pk, split_id]),
        {
            "r.kind": "group",
            "r.op": "or",
            "r.0.kind": "cond",
            "r.0.type": "tag",
            "r.0.op": "has",
            "r.0.match": "all",
            "r.0.tags": [vip.pk],
            "r.1.kind": "cond",
            "r.1.type": "binding",
            "r.1.bound": "true",
        },
        HTTP_HX_REQUEST="true",
    )
    assert saved.status_code == 200
    pack.conditions = {"op": "and", "children": [{"type": "binding", "bound": False}]}
    pack.save()
    journey.refresh_from_db()
    assert journey.draft_graph["nodes"][0]["config"]["conditions"] == tree


def test_split_builder_endpoint_only_for_split_nodes_of_the_team(console, team, other_team, line):
    journey = JourneyFactory(team=team)
    tags = services.add_node(journey, type="tags")
    assert console.post(reverse("journeys:split_builder", args=[journey.pk, tags["id"]])).status_code == 404
    foreign = JourneyFactory(team=other_team)
    split = services.add_node(foreign, type="split")
    assert console.post(reverse("journeys:split_builder", args=[foreign.pk, split["id"]])).status_code == 404


def test_split_drawer_in_english(console, team, draft_split):
    journey, split_id = draft_split
    AudiencePackFactory(team=team, name="Pack A")
    console.cookies["django_language"] = "en"
    html = console.get(reverse("journeys:node", args=[journey.pk, split_id])).content.decode()
    assert "Copy conditions" in html and "Add condition" in html and "Custom attribute" in html


# ---------------------------------------------------------------- moving waiting customers


def _two_versions(team, line):
    """v1: wait 1 day → wait 1 hour → tag v1; v2 changes the tag to v2. Three customers wait on v1's first delay."""
    journey = published_journey(team, line, [delay(days=1), delay(hours=1), node("tags", add=["v1"], remove=[])])
    waiting = [enroll_directly(journey, ContactFactory(channel=line)) for _ in range(3)]
    run_all()
    v1 = journey.current_version
    graph = v1.graph
    graph["nodes"][2]["config"] = {"add": ["v2"], "remove": []}
    services.set_graph(journey, graph)
    services.publish(journey)
    journey.refresh_from_db()
    ids = [n["id"] for n in graph["nodes"]]
    return journey, v1, waiting, ids


def test_moving_waiting_customers_to_another_node_of_the_new_version(team, line):
    journey, v1, waiting, (first, second, _tags) = _two_versions(team, line)
    held = waiting[2]
    Enrollment.objects.filter(pk=held.pk).update(claimed_until=timezone.now() + dt.timedelta(minutes=5))
    dry = services.move_waiting(journey, from_version=v1, node_id=first, to_node=second, dry_run=True)
    assert (dry.count, dry.applied) == (2, False)  # the row a worker holds is not counted: it will not move
    assert services.version_node_counts(journey) == {v1.pk: {first: 3}}
    now = timezone.now()
    moved = services.move_waiting(journey, from_version=v1, node_id=first, to_node=second, dry_run=False, now=now)
    assert moved.count == 2
    rows = Enrollment.objects.filter(pk__in=[e.pk for e in waiting[:2]])
    assert {(r.version_id, r.node, r.waiting, r.next_run_at) for r in rows} == {
        (journey.current_version_id, second, False, now)
    }
    assert services.version_node_counts(journey) == {v1.pk: {first: 1}}
    # The moved customers start the one-hour delay now and get v2's tag after it, not after the day.
    run_all(now=now + dt.timedelta(seconds=1))
    run_all(now=now + dt.timedelta(hours=1, minutes=1))
    tagged = CustomerTag.objects.filter(customer__in=[e.customer for e in waiting[:2]])
    assert sorted(tagged.values_list("tag__name", flat=True)) == ["v2", "v2"]
    assert not CustomerTag.objects.filter(customer=held.customer).exists()


def test_move_to_a_node_missing_from_the_new_version_is_refused(team, line):
    journey, v1, _waiting, (first, _second, _tags) = _two_versions(team, line)
    with pytest.raises(services.JourneyError) as error:
        services.move_waiting(journey, from_version=v1, node_id=first, to_node="nope", dry_run=False)
    assert "to_node" in error.value.message_dict
    assert services.version_node_counts(journey) == {v1.pk: {first: 3}}


def test_move_through_the_builder_with_a_chosen_target(console, team, line):
    journey, v1, waiting, (first, second, tags) = _two_versions(team, line)
    page = console.get(reverse("journeys:builder", args=[journey.pk])).content.decode()
    assert 'data-testid="move-target"' in page
    assert f'<option value="{first}" selected' in page and f'<option value="{tags}"' in page
    old_node = page.split('data-testid="old-node">')[1].split("</td>")[0]
    assert "時間延遲 · 等待 1 天" in old_node and first not in old_node  # named, never a node code (issue 20.15)
    console.cookies["django_language"] = "en"
    english = console.get(reverse("journeys:builder", args=[journey.pk])).content.decode()
    assert "Time delay · Wait 1 day " in english and "Trigger: Tag added" in english
    assert "(same node)" in english and "（" not in english.split('data-testid="older-versions"')[1]
    dry_en = console.post(
        reverse("journeys:move", args=[journey.pk]),
        {"version": v1.pk, "node": first, "to_node": second},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "3 customers will move to node" in dry_en and " (Time delay · Wait 1 hour)" in dry_en
    console.cookies["django_language"] = "zh-hant"
    url = reverse("journeys:move", args=[journey.pk])
    dry = console.post(url, {"version": v1.pk, "node": first, "to_node": second}, HTTP_HX_REQUEST="true")
    html = dry.content.decode()
    assert "將移動 3 位顧客到節點" in html and second in html and 'name="to_node" value="' + second in html
    assert Enrollment.objects.filter(version=v1).count() == 3
    again = console.post(url, {"version": v1.pk, "node": first, "to_node": second, "reset": "1"})
    assert 'data-testid="move-target"' in again.content.decode()
    bad = console.post(url, {"version": v1.pk, "node": first, "to_node": "nope", "apply": "1"})
    assert bad.status_code == 400 and 'data-testid="move-error"' in bad.content.decode()
    applied = console.post(url, {"version": v1.pk, "node": first, "to_node": second, "apply": "1"})
    assert 'data-testid="moved"' in applied.content.decode()
    assert set(Enrollment.objects.filter(pk__in=[e.pk for e in waiting]).values_list("node", flat=True)) == {second}
    assert Journey.objects.get(pk=journey.pk).current_version.enrollments.count() == 3
