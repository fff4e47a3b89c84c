import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from cdp.models import Channel, Customer, CustomerTag
from cdp.services import identity, tags
from cdp.tests.factories import ChannelFactory, ContactFactory, CustomAttributeFactory, CustomerFactory


@pytest.mark.django_db
class TestChannelsApi:
    @override_settings(PUBLIC_BASE_URL="https://cdp.example.com")
    def test_create_whatsapp_channel(self, api, team):
        creds = {"phone_number_id": "1098", "app_secret": "s3cret", "verify_token": "vt", "access_token": "tok"}
        response = api.post("/api/v1/channels", {"kind": "whatsapp", "name": "WA", "credentials": creds}, format="json")
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["webhook_url"] == f"https://cdp.example.com/webhooks/whatsapp/{body['id']}/"
        assert body["external_id"] == "1098" and "credentials" not in body
        assert Channel.objects.get(pk=body["id"]).credentials == creds
        detail = api.get(f"/api/v1/channels/{body['id']}").json()
        assert "credentials" not in detail and "s3cret" not in str(detail)
        again = api.post("/api/v1/channels", {"kind": "whatsapp", "name": "WA2", "credentials": creds}, format="json")
        assert again.status_code == 400 and "credentials.phone_number_id" in again.json()["error"]["fields"]

    def test_credentials_validated_per_kind(self, api):
        response = api.post(
            "/api/v1/channels",
            {"kind": "facebook", "name": "FB", "credentials": {"page_id": "1", "x": "y"}},
            format="json",
        )
        fields = response.json()["error"]["fields"]
        assert response.status_code == 400
        assert {"credentials.x", "credentials.app_secret", "credentials.access_token"} <= set(fields)
        line = api.post(
            "/api/v1/channels",
            {"kind": "line", "name": "LINE", "credentials": {"channel_secret": "a", "channel_access_token": "b"}},
            format="json",
        )
        assert line.status_code == 201 and "/webhooks/line/" in line.json()["webhook_url"]
        ig_credentials = {"ig_account_id": "1784", "app_secret": "s", "verify_token": "v", "access_token": "t"}
        ig_body = {"kind": "instagram", "name": "IG", "credentials": ig_credentials}
        ig = api.post("/api/v1/channels", ig_body, format="json")
        assert ig.status_code == 201 and "/webhooks/meta/" in ig.json()["webhook_url"]
        assert "credentials" not in ig.json()  # write-only
        missing = api.post("/api/v1/channels", {"kind": "instagram", "name": "IG", "credentials": {}}, format="json")
        assert {"credentials.ig_account_id", "credentials.app_secret"} <= set(missing.json()["error"]["fields"])

    def test_update_and_disable(self, api, team):
        channel = ChannelFactory(team=team, kind="facebook", credentials={"page_id": "1", "app_secret": "a"})
        response = api.patch(f"/api/v1/channels/{channel.pk}", {"name": "New", "credentials": {"app_secret": "b"}})
        assert response.status_code == 200 and response.json()["name"] == "New"
        channel.refresh_from_db()
        assert channel.credentials == {"page_id": "1", "app_secret": "b"}
        assert api.post(f"/api/v1/channels/{channel.pk}/disable").json()["status"] == "disabled"


@pytest.mark.django_db
class TestCustomersApi:
    def test_filters_and_detail(self, api, team):
        line = ChannelFactory(team=team)
        a = ContactFactory(channel=line, external_id="Ua")
        b = ContactFactory(channel=line, external_id="Ub")
        CustomAttributeFactory(team=team, key="level", type="number")
        identity.bind_contact(contact=a, method="coupon", member_id="M1", email="amy@example.com")
        tags.add_tags(customer=a.customer, names=["VIP"], source="api")
        api.post(f"/api/v1/customers/{a.customer_id}/attributes", {"attributes": {"level": 3}}, format="json")
        ids = lambda r: [c["id"] for c in r.json()["results"]]  # noqa: E731
        assert ids(api.get("/api/v1/customers", {"tag": "VIP"})) == [a.customer_id]
        assert ids(api.get("/api/v1/customers", {"attribute": "level:3"})) == [a.customer_id]
        assert ids(api.get("/api/v1/customers", {"attribute": "level:4"})) == []
        assert ids(api.get("/api/v1/customers", {"bound": "false"})) == [b.customer_id]
        assert ids(api.get("/api/v1/customers", {"search": "Ub"})) == [b.customer_id]
        assert ids(api.get("/api/v1/customers", {"search": "AMY@example.com"})) == [a.customer_id]
        assert ids(api.get("/api/v1/customers", {"search": "M1", "member": "true"})) == [a.customer_id]
        assert ids(api.get("/api/v1/customers", {"tag": ["VIP", "nope"]})) == []  # repeatable: all must match

        bad = api.get("/api/v1/customers", {"attribute": "level:high"})
        assert bad.status_code == 400 and "attribute" in bad.json()["error"]["fields"]
        detail = api.get(f"/api/v1/customers/{a.customer_id}").json()
        assert detail["attributes"] == {"level": 3} and detail["tags"][0]["name"] == "VIP"
        assert detail["contacts"][0]["external_id"] == "Ua" and detail["bindings"][0]["method"] == "coupon"

    def test_search_is_the_console_search(self, api, team):
        """Issue 22.3: the API's `search` is Customer.objects.search: tags and local phone forms are found, and
        the list query does not OR a name condition with a subquery."""
        line = ChannelFactory(team=team)
        a = ContactFactory(channel=line, external_id="Ua")
        identity.bind_contact(contact=a, method="coupon", member_id="M1", phone="0912345678")
        tags.add_tags(customer=a.customer, names=["回購客"], source="api")
        ids = lambda r: [c["id"] for c in r.json()["results"]]  # noqa: E731
        for term in ["回購客", "0912-345-678", "M1", "Ua"]:
            assert ids(api.get("/api/v1/customers", {"search": term})) == [a.customer_id], term
        with CaptureQueriesContext(connection) as queries:
            assert ids(api.get("/api/v1/customers", {"search": "Ua"})) == [a.customer_id]
        listed = [
            q["sql"] for q in queries.captured_queries if 'FROM "cdp_customer"' in q["sql"] and "LIMIT" in q["sql"]
        ]
        assert listed and not any(" OR EXISTS" in sql for sql in listed), listed
        other = api.get("/api/v1/customers", {"channel": ChannelFactory().pk})  # another team's channel
        assert other.status_code == 400 and "channel" in other.json()["error"]["fields"]

    def test_bind_merge_and_unmerge_via_api(self, api, team):
        line, wa = ChannelFactory(team=team), ChannelFactory(team=team, kind="whatsapp")
        a, b = ContactFactory(channel=line), ContactFactory(channel=wa)
        assert (
            api.post("/api/v1/customers/bind", {"contact": a.pk, "method": "api", "member_id": "M1"}).status_code == 200
        )
        response = api.post("/api/v1/customers/bind", {"contact": b.pk, "method": "pixel", "member_id": "M1"})
        detail = response.json()
        assert len(detail["contacts"]) == 2 and len(detail["merges"]) == 1
        conflict = api.post("/api/v1/customers/bind", {"contact": b.pk, "method": "api", "member_id": "M2"})
        assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "member_id_conflict"
        merge_id = detail["merges"][0]["id"]
        undone = api.post(f"/api/v1/merges/{merge_id}/unmerge")
        assert undone.status_code == 200, undone.content
        assert Customer.objects.active().count() == 2
        assert api.post(f"/api/v1/merges/{merge_id}/unmerge").status_code == 409

    def test_points_and_tags_errors(self, api, team):
        customer = CustomerFactory(team=team)
        response = api.post(f"/api/v1/customers/{customer.pk}/points", {"delta": -1})
        assert response.status_code == 400 and "delta" in response.json()["error"]["fields"]
        # A service's ServiceError keeps its stable code through the one exception handler (issue 22.4).
        error = response.json()["error"]
        assert error["code"] == "insufficient_points" and error["message"] == error["fields"]["delta"][0]
        assert api.post(f"/api/v1/customers/{customer.pk}/tags", {"tags": ["a", "b"]}).status_code == 200
        assert api.post(f"/api/v1/customers/{customer.pk}/tags/remove", {"tags": ["a"]}).status_code == 200
        assert list(CustomerTag.objects.values_list("tag__name", flat=True)) == ["b"]

    def test_unknown_attribute_key_is_named(self, api, team):
        customer = CustomerFactory(team=team)
        response = api.post(f"/api/v1/customers/{customer.pk}/attributes", {"attributes": {"Nope": 1}}, format="json")
        assert response.status_code == 400 and "Nope" in response.json()["error"]["fields"]


@pytest.mark.django_db
class TestDefinitionsApi:
    def test_tags_and_attributes(self, api, team):
        tag = api.post("/api/v1/tags", {"name": "VIP"}).json()
        assert api.post("/api/v1/tags", {"name": "VIP"}).status_code == 400
        assert api.patch(f"/api/v1/tags/{tag['id']}", {"name": "VVIP"}).json()["name"] == "VVIP"
        assert api.post(f"/api/v1/tags/{tag['id']}/archive").json()["archived_at"]
        bad = api.post("/api/v1/attributes", {"key": "bad-key", "label": "x", "type": "text"})
        assert bad.status_code == 400 and "key" in bad.json()["error"]["fields"]
        attr = api.post("/api/v1/attributes", {"key": "Level", "label": "等級", "type": "number"}).json()
        assert api.post("/api/v1/attributes", {"key": "level", "label": "x", "type": "text"}).status_code == 201
        assert api.patch(f"/api/v1/attributes/{attr['id']}", {"type": "text"}).json()["type"] == "text"

    def test_contacts_and_quota(self, api, team):
        line = ChannelFactory(team=team)
        contact = ContactFactory(channel=line, external_id="U9")
        ContactFactory(channel=line)
        body = api.get("/api/v1/contacts", {"channel": line.pk, "external_id": "U9"}).json()
        assert [c["id"] for c in body["results"]] == [contact.pk]
        assert set(body["results"][0]) >= {"id", "channel", "external_id", "status", "source", "created_at", "customer"}
        quota = api.get("/api/v1/quota").json()
        assert quota["used"] == 2 and quota["remaining"] == team.contact_quota - 2 and quota["percent"] == 0.0

    def test_contact_filters_by_status_and_source(self, api, team):
        line = ChannelFactory(team=team)
        blocked = ContactFactory(channel=line, status="blocked", source="import")
        ContactFactory(channel=line, status="subscribed", source="import")
        ContactFactory(channel=line, status="blocked", source="api")
        body = api.get("/api/v1/contacts", {"status": "blocked", "source": "import"}).json()
        assert [c["id"] for c in body["results"]] == [blocked.pk]
        assert api.get("/api/v1/contacts", {"status": "nonsense"}).json()["results"] == []


@pytest.mark.django_db
def test_another_teams_ids_reach_nothing(api, team, other_team):
    """Team A's key with team B's contact, channel, tag and customer ids: refused or empty, team B unchanged."""
    theirs = ContactFactory(channel=ChannelFactory(team=other_team), external_id="U-B")
    identity.merge_customers(survivor=theirs.customer, absorbed=CustomerFactory(team=other_team), evidence={})
    their_tag = tags.add_tags(customer=theirs.customer, names=["B-VIP"], source="api")[0]
    ContactFactory(channel=ChannelFactory(team=team))
    response = api.post(
        "/api/v1/customers/bind", {"contact": theirs.pk, "member_id": "M-A", "method": "api"}, format="json"
    )
    assert response.status_code == 400 and "contact" in response.json()["error"]["fields"]
    theirs.customer.refresh_from_db()
    assert theirs.customer.member_id is None and not Customer.objects.filter(member_id="M-A").exists()
    for params in ({"tag": their_tag.pk}, {"tag": "B-VIP"}):
        assert api.get("/api/v1/customers", params).json()["results"] == [], params
    # Another team's channel is refused exactly as a channel that does not exist (issue 22.5).
    refused = api.get("/api/v1/customers", {"channel": theirs.channel_id})
    assert refused.status_code == 400 and refused.json() == api.get("/api/v1/customers", {"channel": 10**9}).json()
    assert api.get("/api/v1/merges", {"customer": theirs.customer_id}).json()["results"] == []
    assert api.get("/api/v1/quota").json()["used"] == 1


@pytest.mark.django_db
def test_merge_records_are_read_only_in_the_admin_and_unmerge_is_an_action(admin_client, team):
    from cdp.models import MergeRecord

    survivor, absorbed = CustomerFactory(team=team), CustomerFactory(team=team)
    record = identity.merge_customers(survivor=survivor, absorbed=absorbed, evidence={"reason": "test"})
    page = admin_client.get(f"/admin/cdp/mergerecord/{record.pk}/change/")
    assert page.status_code == 200 and not page.context["has_change_permission"]
    response = admin_client.post(f"/admin/cdp/mergerecord/{record.pk}/change/", {"evidence": "{}"})
    assert response.status_code == 403
    assert admin_client.get("/admin/cdp/mergerecord/add/").status_code == 403
    response = admin_client.post(
        "/admin/cdp/mergerecord/", {"action": "unmerge", "_selected_action": [record.pk]}, follow=True
    )
    assert response.status_code == 200
    record.refresh_from_db()
    absorbed.refresh_from_db()
    assert record.unmerged_at is not None and absorbed.merged_into_id is None
    assert MergeRecord.objects.count() == 1


@pytest.mark.django_db
def test_admin_pages_render(admin_client, team):
    from django.urls import reverse

    contact = ContactFactory(channel=ChannelFactory(team=team, credentials={"channel_secret": "supersecret"}))
    other = CustomerFactory(team=team)
    identity.merge_customers(survivor=contact.customer, absorbed=other, evidence={})
    for model in [
        "channel",
        "contact",
        "customer",
        "tag",
        "customertag",
        "customattribute",
        "attributevalue",
        "binding",
        "customerevent",
        "order",
        "mergerecord",
        "eventreceipt",
        "importjob",
        "attributetypechange",
    ]:
        response = admin_client.get(reverse(f"admin:cdp_{model}_changelist"), {"q": "x"})
        assert response.status_code == 200, model
    page = admin_client.get(reverse("admin:cdp_channel_change", args=[contact.channel_id]))
    assert b"supersecret" not in page.content and b"cret" in page.content


@pytest.mark.django_db
def test_the_schema_documents_every_event_type_with_an_example(api):
    from cdp.services.events_api import HANDLERS

    operation = api.get("/api/schema/", {"format": "json"}).json()["paths"]["/api/v1/events"]["post"]
    examples = operation["requestBody"]["content"]["application/json"]["examples"]
    documented = {event["type"] for example in examples.values() for event in example["value"]["events"]}
    assert documented >= set(HANDLERS), set(HANDLERS) - documented
