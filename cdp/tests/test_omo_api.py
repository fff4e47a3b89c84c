"""/api/v1/omo/members and /api/v1/omo/assignments: OMO 綁定 through the API, with the console's services
(cdp.services.omo): the team list with codes and deep links, 手動新增客戶, 手動移轉 and the record of each."""

import pytest

from cdp.models import Contact, OmoAssignment, OmoMember
from cdp.services import omo
from cdp.tests.factories import ChannelFactory, ContactFactory
from tests.factories import api_client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def channels(team):
    line = ChannelFactory(team=team, kind="line", credentials={"basic_id": "@shop", "access_token": "t"})
    wa = ChannelFactory(team=team, kind="whatsapp", credentials={"display_phone_number": "+886 2 1234 5678"})
    return line, wa


def test_members_are_created_listed_with_their_links_and_refused_when_wrong(api, team, channels):
    line, wa = channels
    response = api.post("/api/v1/omo/members", {"kind": "staff", "name": " 王店長 "}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    member = OmoMember.objects.get(pk=body["id"])
    assert (body["kind"], body["name"], body["code"]) == ("staff", "王店長", member.code)
    assert body["prefilled_text"] == f"OMO-{member.code}"
    assert body["links"] == [
        {"channel": line.pk, "kind": "line", "url": f"https://line.me/R/oaMessage/%40shop/?OMO-{member.code}"},
        {"channel": wa.pk, "kind": "whatsapp", "url": f"https://wa.me/886212345678?text=OMO-{member.code}"},
    ]
    again = api.post("/api/v1/omo/members", {"kind": "staff", "name": "王店長"}, format="json")
    assert again.status_code == 409 and "name" in again.json()["error"]["fields"]
    for bad, field in (({"kind": "boss", "name": "x"}, "kind"), ({"kind": "branch", "name": " "}, "name")):
        response = api.post("/api/v1/omo/members", bad, format="json")
        assert response.status_code == 400 and field in response.json()["error"]["fields"], response.content
    assert OmoMember.objects.count() == 1
    listed = api.get("/api/v1/omo/members").json()["results"]
    assert [m["id"] for m in listed] == [member.pk] and listed[0]["links"] == body["links"]
    assert api.get(f"/api/v1/omo/members/{member.pk}").json()["code"] == member.code


def test_a_customer_added_by_hand_is_bound_and_recorded(api, team, channels):
    _line, wa = channels
    amy = omo.create_member(team=team, kind="staff", name="Amy")
    url = f"/api/v1/omo/members/{amy.pk}/customers"
    response = api.post(url, {"channel": wa.pk, "external_id": "0912 000 111", "display_name": "林小姐"}, format="json")
    assert response.status_code == 201, response.content
    contact = Contact.objects.get(channel=wa)
    assert response.json() == {"contact": contact.pk, "customer": contact.customer_id, "created": True}
    assert (contact.external_id, contact.source, contact.omo_staff) == ("+886912000111", "omo_binding", "Amy")
    assert list(contact.omo_assignments.values_list("method", "by")) == [("manual", None)]
    for bad in ({"channel": wa.pk, "external_id": "12"}, {"channel": 987654321, "external_id": "0912000222"}, {}):
        assert api.post(url, bad, format="json").status_code == 400
    bad_number = api.post(url, {"channel": wa.pk, "external_id": "12"}, format="json").json()
    assert list(bad_number["error"]["fields"]) == ["external_id"]  # the field the caller sent
    sms = ChannelFactory(team=team, kind="sms")
    refused = api.post(url, {"channel": sms.pk, "external_id": "0912000333"}, format="json")
    assert refused.status_code == 400 and "channel" in refused.json()["error"]["fields"]
    assert Contact.objects.count() == 1


def test_transfer_moves_contacts_and_records_the_previous_member(api, team, other_team, channels):
    line, _wa = channels
    amy = omo.create_member(team=team, kind="staff", name="Amy")
    ben = omo.create_member(team=team, kind="staff", name="Ben")
    first = omo.add_customer(team=team, channel=line, external_id="U-1", member=amy).contact
    second = ContactFactory(team=team, channel=line)
    theirs = ContactFactory(channel=ChannelFactory(team=other_team))
    url = f"/api/v1/omo/members/{ben.pk}/transfer"
    for bad in ({"contacts": [first.pk, theirs.pk]}, {"contacts": []}, {"contacts": "x"}, {}):
        assert api.post(url, bad, format="json").status_code == 400, bad
    assert not OmoAssignment.objects.filter(method="transfer").exists()
    response = api.post(url, {"contacts": [first.pk, second.pk]}, format="json")
    assert response.status_code == 200 and response.json() == {"moved": 2}
    first.refresh_from_db()
    assert first.omo_staff == "Ben" and first.source == "omo_binding"
    records = api.get("/api/v1/omo/assignments", {"contact": first.pk}).json()["results"]
    assert [(r["method"], r["previous"], r["member"]) for r in records] == [
        ("transfer", "Amy", ben.pk),
        ("manual", "", amy.pk),
    ]
    again = api.post(url, {"contacts": [first.pk, second.pk]}, format="json")  # a retried call moves nothing
    assert again.json() == {"moved": 0} and OmoAssignment.objects.filter(method="transfer").count() == 2
    outsider = api_client_for(other_team)
    assert outsider.get("/api/v1/omo/assignments").json()["results"] == []
    assert outsider.post(url, {"contacts": [theirs.pk]}, format="json").status_code == 404
    inactive = OmoMember.objects.filter(pk=amy.pk)
    inactive.update(is_active=False)
    back = api.post(f"/api/v1/omo/members/{amy.pk}/transfer", {"contacts": [first.pk]}, format="json")
    assert back.status_code == 400
    first.refresh_from_db()
    assert first.omo_staff == "Ben"
