import pytest

from audiences.models import AudiencePack
from audiences.tests.factories import AudiencePackFactory, BroadcastFactory
from cdp.models import AttributeType, CustomAttribute, CustomerTag
from cdp.tests.factories import ChannelFactory, ContactFactory, TagFactory

pytestmark = pytest.mark.django_db

VIP = {"op": "and", "children": [{"type": "tag", "op": "has", "tags": ["VIP"]}]}


@pytest.fixture
def line(team):
    return ChannelFactory(team=team, kind="line")


@pytest.fixture
def vips(team, line):
    tag = TagFactory(team=team, name="VIP")
    contacts = [ContactFactory(channel=line) for _ in range(3)]
    for c in contacts[:2]:
        CustomerTag.objects.create(team=team, customer=c.customer, tag=tag)
    return contacts[:2]


def test_create_list_update_pack(api, team, line, vips):
    response = api.post("/api/v1/audiences", {"name": "VIP", "channel": line.pk, "conditions": VIP}, format="json")
    assert response.status_code == 201, response.content
    pack_id = response.json()["id"]
    assert api.get("/api/v1/audiences").status_code == 200
    response = api.patch(f"/api/v1/audiences/{pack_id}", {"name": "VIP 2"}, format="json")
    assert response.status_code == 200 and response.json()["name"] == "VIP 2"
    response = api.post(f"/api/v1/audiences/{pack_id}/count")
    assert response.json() == {"count": 2}
    assert AudiencePack.objects.get(pk=pack_id).last_count == 2
    body = api.get(f"/api/v1/audiences/{pack_id}/contacts").json()
    assert {row["id"] for row in body["results"]} == {c.pk for c in vips}
    # `after` is an id: digit-like characters and ids beyond a bigint are a 400, not a 500
    for after in ("²", "9" * 30, "-1"):
        response = api.get(f"/api/v1/audiences/{pack_id}/contacts", {"after": after})
        assert response.status_code == 400 and "after" in response.json()["error"]["fields"], after


def test_adhoc_count(api, line, vips):
    response = api.post("/api/v1/audiences/count", {"channel": line.pk, "conditions": VIP}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"count": 2}


@pytest.mark.parametrize(
    "conditions,path",
    [
        ({"op": "and", "children": []}, "conditions.children"),
        ({"op": "and", "children": [{"type": "tag", "op": "has", "tags": ["nope"]}]}, "conditions.children[0].tags[0]"),
        (
            {
                "op": "and",
                "children": [{"op": "or", "children": [{"type": "attribute", "key": "n", "op": "gt", "value": "x"}]}],
            },
            "conditions.children[0].children[0].value",
        ),
        (
            {"op": "and", "children": [{"type": "attribute", "key": "gone", "op": "empty"}]},
            "conditions.children[0].key",
        ),
        ("not a tree", "conditions"),
    ],
)
def test_bad_conditions_answer_400_with_the_path(api, team, line, conditions, path):
    from django.utils import timezone

    CustomAttribute.objects.create(team=team, key="n", label="n", type=AttributeType.NUMBER)
    CustomAttribute.objects.create(team=team, key="gone", label="g", type="text", archived_at=timezone.now())
    for url, body in [
        ("/api/v1/audiences/count", {"channel": line.pk, "conditions": conditions}),
        ("/api/v1/audiences", {"name": "x", "channel": line.pk, "conditions": conditions}),
    ]:
        response = api.post(url, body, format="json")
        assert response.status_code == 400, response.content
        assert path in response.json()["error"]["fields"], response.json()
    assert not AudiencePack.objects.exists()


def test_other_teams_channel_is_rejected(api, other_team):
    foreign = ChannelFactory(team=other_team)
    response = api.post("/api/v1/audiences/count", {"channel": foreign.pk, "conditions": VIP}, format="json")
    assert response.status_code == 400
    assert "channel" in response.json()["error"]["fields"]


def test_copy_archive_reactivate(api, team):
    pack = AudiencePackFactory(team=team)
    copy = api.post(f"/api/v1/audiences/{pack.pk}/copy").json()
    assert copy["id"] != pack.pk and copy["conditions"] == pack.conditions
    assert api.post(f"/api/v1/audiences/{pack.pk}/archive").json()["is_archived"] is True
    assert [p["id"] for p in api.get("/api/v1/audiences?archived=true").json()["results"]] == [pack.pk]
    assert api.post(f"/api/v1/audiences/{pack.pk}/reactivate").json()["is_archived"] is False


def test_outsider_cannot_count_or_list_contacts_of_a_pack(team, other_api):
    pack = AudiencePackFactory(team=team)
    assert other_api.post(f"/api/v1/audiences/{pack.pk}/count").status_code == 404
    assert other_api.get(f"/api/v1/audiences/{pack.pk}/contacts").status_code == 404
    response = other_api.post(
        "/api/v1/audiences/count", {"channel": pack.channel_id, "conditions": pack.conditions}, format="json"
    )
    assert response.status_code == 400


def test_broadcast_edit_matrix_over_the_api(api, team):
    from django.utils import timezone

    broadcast = BroadcastFactory(team=team)
    first_pack = broadcast.pack_id
    other_pack = AudiencePackFactory(team=team, channel=broadcast.channel)
    url = f"/api/v1/broadcasts/{broadcast.pk}"
    # draft: change pack and apply custom conditions are allowed
    assert api.patch(url, {"pack": other_pack.pk}, format="json").status_code == 200
    response = api.post(f"{url}/apply-custom-conditions", {}, format="json")
    assert response.status_code == 200 and response.json()["custom_conditions"] == other_pack.conditions
    # scheduled: both refused with 409, the pack itself stays editable
    broadcast.refresh_from_db()
    broadcast.status, broadcast.scheduled_at = "scheduled", timezone.now() + timezone.timedelta(hours=2)
    broadcast.save()
    assert api.patch(url, {"pack": first_pack}, format="json").status_code == 409
    assert api.post(f"{url}/apply-custom-conditions", {}, format="json").status_code == 409
    assert api.patch(f"/api/v1/audiences/{other_pack.pk}", {"name": "edited"}, format="json").status_code == 200
    body = api.get(url).json()
    assert body["can_edit_pack"] and not body["can_change_pack"] and not body["can_apply_custom_conditions"]
