import json

import pytest
from django.urls import reverse

from cdp.models import Customer
from cdp.tests.factories import ContactFactory, CustomAttributeFactory, TagFactory
from journeys.models import Journey
from journeys.tests.factories import JourneyFactory, delay, enroll_directly, published_journey

pytestmark = pytest.mark.django_db


def test_list_shows_seed_actions_per_status_and_filters(console, team):
    for status in ("draft", "active", "scheduled", "trigger_closed", "stopping", "stopped"):
        JourneyFactory(team=team, name=f"J-{status}", status=status)
    JourneyFactory(team=team, name="J-warn", status="stopped", status_reason="module_deleted")
    html = console.get(reverse("journeys:index")).content.decode()
    assert "找不到機器人或機器人模組" in html
    for name, actions in {
        "J-draft": ["edit", "copy", "delete"],
        "J-active": ["view", "close_trigger", "stop", "copy"],
        "J-stopping": ["view", "copy"],
    }.items():
        journey = Journey.objects.get(name=name)
        row = html.split(f'data-journey="{journey.pk}"')[1].split("</tr>")[0]
        assert [a.split('"')[0] for a in row.split('data-action="')[1:]] == actions
    filtered = console.get(reverse("journeys:index"), {"status": "active", "q": "J-"}).content.decode()
    assert "J-active" in filtered and "J-draft" not in filtered
    by_trigger = console.get(reverse("journeys:index"), {"trigger": "system"}).content.decode()
    assert "J-active" not in by_trigger


def test_other_team_journey_is_404(console, other_team):
    journey = JourneyFactory(team=other_team)
    assert console.get(reverse("journeys:builder", args=[journey.pk])).status_code == 404
    assert console.post(reverse("journeys:action", args=[journey.pk, "delete"])).status_code == 404
    assert Journey.objects.filter(pk=journey.pk).exists()


def test_builder_flow_add_edit_validate_publish(console, team, line):
    response = console.post(reverse("journeys:create"), {"name": "歡迎"})
    journey = Journey.objects.get(name="歡迎")
    assert response.status_code == 302
    settings_url = reverse("journeys:settings", args=[journey.pk])
    bad = console.post(
        settings_url,
        {
            "name": "歡迎",
            "trigger_type": "tag_added",
            "trigger_tag": "VIP",
            "activation": "permanent",
            "dnd_start": ["22:00", "07:00"],
            "dnd_end": ["23:30", "06:00"],
            "channel": [line.pk],
        },
        HTTP_HX_REQUEST="true",
    )
    assert bad.status_code == 400 and "勿擾時段" in bad.content.decode() and "dnd_segments" not in bad.content.decode()
    ok = console.post(
        settings_url,
        {
            "name": "歡迎",
            "trigger_type": "tag_added",
            "trigger_tag": "VIP",
            "activation": "permanent",
            "dnd_start": ["23:00", "00:00"],
            "dnd_end": ["23:59", "08:00"],
            "channel": [line.pk],
            f"cap_{line.pk}": "100",
        },
        HTTP_HX_REQUEST="true",
    )
    assert ok.status_code == 200, ok.content.decode()[:500]
    journey.refresh_from_db()
    assert journey.dnd_segments == [["23:00", "23:59"], ["00:00", "08:00"]]
    assert journey.targets.get().message_cap == 100
    console.post(reverse("journeys:add_node", args=[journey.pk]), {"type": "delay"}, HTTP_HX_REQUEST="true")
    console.post(reverse("journeys:add_node", args=[journey.pk]), {"type": "tags"}, HTTP_HX_REQUEST="true")
    journey.refresh_from_db()
    tags_node, delay_node = journey.draft_graph["nodes"]
    url = reverse("journeys:node", args=[journey.pk, delay_node["id"]])
    zero = console.post(url, {"days": "0", "hours": "0", "minutes": "0"}, HTTP_HX_REQUEST="true")
    assert zero.status_code == 400 and "不能為 0" in zero.content.decode()
    assert console.post(url, {"days": "1", "hours": "0", "minutes": "0"}, HTTP_HX_REQUEST="true").status_code == 200
    journey.refresh_from_db()
    assert journey.draft_graph["nodes"][1]["config"] == {"days": 1, "hours": 0, "minutes": 0}  # ints, as graph.py
    tags_url = reverse("journeys:node", args=[journey.pk, tags_node["id"]])
    overlap = console.post(tags_url, {"add": "A, B", "remove": "B"}, HTTP_HX_REQUEST="true")
    assert overlap.status_code == 400 and "不能填入相同標籤" in overlap.content.decode()
    # Publishing names every bad node: the tag node is still empty.
    failed = console.post(reverse("journeys:publish", args=[journey.pk]), HTTP_HX_REQUEST="true")
    assert failed.status_code == 400 and tags_node["id"] in failed.content.decode()
    assert (failed["HX-Retarget"], failed["HX-Reswap"]) == ("#flowcard", "outerHTML")
    saved = console.post(tags_url, {"add": "A", "remove": ""}, HTTP_HX_REQUEST="true")
    assert json.loads(saved["HX-Trigger"]) == {"drawer-close": {}}  # the builder's listener closes the drawer
    published = console.post(reverse("journeys:publish", args=[journey.pk]), HTTP_HX_REQUEST="true")
    assert published.status_code == 200 and published["HX-Redirect"] == f"/journeys/{journey.pk}/"
    journey.refresh_from_db()
    assert journey.status == "active" and journey.current_version.number == 1


def test_attribute_node_only_on_text_attributes(team, line):
    from journeys import services

    CustomAttributeFactory(team=team, key="score", type="number")
    journey = JourneyFactory(team=team)
    node = services.add_node(journey, type="attribute")
    with pytest.raises(services.JourneyError) as error:
        services.update_node(journey, node["id"], {"key": "score", "value": "1"})
    assert "文字" in str(error.value)


def test_message_node_module_must_exist_for_its_channel(team, line, module):
    from journeys import services
    from journeys.models import JourneyChannel

    journey = JourneyFactory(team=team)
    JourneyChannel.objects.create(team=team, journey=journey, channel=line)
    node = services.add_node(journey, type="message")
    with pytest.raises(services.JourneyError):
        services.update_node(journey, node["id"], {"channel_id": line.pk, "kind": "module", "module_id": 999999})
    with pytest.raises(services.JourneyError):
        services.update_node(
            journey, node["id"], {"channel_id": line.pk, "kind": "whatsapp_template", "template_id": 1}
        )
    services.update_node(journey, node["id"], {"channel_id": line.pk, "kind": "module", "module_id": module.pk})


def test_statistics_versions_and_test_pages(console, team, line):
    TagFactory(team=team, name="VIP")
    journey = published_journey(team, line, [delay(days=1)])
    enroll_directly(journey, ContactFactory(channel=line, display_name="Amy"))
    assert console.get(reverse("journeys:statistics", args=[journey.pk])).status_code == 200
    html = console.get(reverse("journeys:test", args=[journey.pk]), {"q": "Amy"}).content.decode()
    assert "Amy" in html


def test_list_in_english(console, team):
    JourneyFactory(team=team, name="J", status="active")
    html = console.get(reverse("journeys:index"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    console.cookies["django_language"] = "en"
    html = console.get(reverse("journeys:index")).content.decode()
    assert "Close trigger" in html and "Active" in html


def test_list_shows_times_in_the_team_zone(console, team):
    import datetime as dt

    start = dt.datetime(2026, 7, 1, 16, 0, tzinfo=dt.UTC)  # 2026-07-02 00:00 in Asia/Taipei
    JourneyFactory(
        team=team,
        name="S",
        status="scheduled",
        activation="scheduled",
        starts_at=start,
        ends_at=start + dt.timedelta(days=1),
    )
    html = console.get(reverse("journeys:index")).content.decode()
    assert "2026-07-02 00:00" in html
    fragment = console.get(reverse("journeys:index"), {"status": "scheduled"}, HTTP_HX_REQUEST="true")
    assert "2026-07-02 00:00" in fragment.content.decode()


def test_saving_settings_of_a_live_journey_keeps_its_channels(console, team, line):
    journey = published_journey(team, line, [delay(days=1)])
    response = console.post(
        reverse("journeys:settings", args=[journey.pk]),
        {"name": "改名", "expiry_action": "stop", "dnd_start": [""], "dnd_end": [""]},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200, response.content.decode()[:300]
    journey.refresh_from_db()
    assert journey.name == "改名" and list(journey.targets.values_list("channel_id", flat=True)) == [line.pk]


def test_publish_from_the_settings_form_saves_then_publishes(console, team, line):
    journey = JourneyFactory(team=team, trigger_type="tag_added", trigger_config={"tag": "VIP"})
    from journeys import services

    services.add_node(journey, type="delay")
    response = console.post(
        reverse("journeys:settings", args=[journey.pk]),
        {
            "name": "新名稱",
            "trigger_type": "tag_added",
            "trigger_tag": "VIP",
            "activation": "permanent",
            "channel": [line.pk],
            "then": "publish",
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200 and response["HX-Redirect"] == f"/journeys/{journey.pk}/"
    journey.refresh_from_db()
    assert journey.name == "新名稱" and journey.status == "active"


@pytest.mark.parametrize("bad", ["abc", "", "1.5", "999999"])
def test_bad_or_foreign_ids_in_parameters_are_404_not_500(console, team, other_team, bad):
    journey = JourneyFactory(team=team)
    # an empty choice is "no customer picked yet": the page itself
    expected = 200 if bad == "" else 404
    assert console.get(reverse("journeys:test", args=[journey.pk]), {"customer": bad}).status_code == expected
    response = console.post(reverse("journeys:move", args=[journey.pk]), {"version": bad, "node": "n1"})
    assert response.status_code == 404


def test_another_teams_customer_cannot_be_simulated(console, team, other_team):
    journey = JourneyFactory(team=team)
    outsider = ContactFactory(team=other_team).customer
    assert console.get(reverse("journeys:test", args=[journey.pk]), {"customer": outsider.pk}).status_code == 404


def test_test_a_journey_finds_a_customer_by_a_local_phone_number(console, team, line):
    """Issue 22.3: the picker uses the customer search, which reads phones with the team's region."""
    journey = published_journey(team, line, [delay(days=1)])
    customer = ContactFactory(channel=line, display_name="Amy").customer
    Customer.objects.filter(pk=customer.pk).update(name="Amy", phone="+886912345678", member_id="M-77")
    url = reverse("journeys:test", args=[journey.pk])
    for term in ["0912345678", "0912-345-678", "+886912345678", "M-77", "Am"]:
        response = console.get(url, {"q": term})
        assert f"customer={customer.pk}" in response.content.decode(), term
    assert f"customer={customer.pk}" not in console.get(url, {"q": "0922000000"}).content.decode()
