from datetime import timedelta

import pytest
from django.utils import timezone

from cdp.models import (
    Binding,
    Contact,
    Customer,
    CustomerEvent,
    CustomerTag,
    EventReceipt,
    EventType,
    Order,
)
from cdp.tests.factories import ChannelFactory, ContactFactory, CustomAttributeFactory
from tests.factories import api_client_for

URL = "/api/v1/events"


@pytest.fixture
def line(team):
    return ChannelFactory(team=team, kind="line")


def post(api, events):
    return api.post(URL, {"events": events}, format="json")


@pytest.mark.django_db
class TestEventsApi:
    def test_identify_and_binding_end_to_end(self, api, team, line):
        at = "2026-01-05T09:30:00+08:00"
        response = post(
            api,
            [
                {"id": "e1", "type": "member.identify", "occurred_at": at, "data": {"member_id": "M1", "name": "Amy"}},
                {
                    "id": "e2",
                    "type": "binding",
                    "occurred_at": at,
                    "data": {"channel": line.pk, "external_id": "Uabc", "member_id": "M1", "method": "binding_plugin"},
                },
            ],
        )
        assert response.status_code == 200, response.content
        assert response.json() == {"accepted": 2, "duplicates": 0, "rejected": []}
        customer = Customer.objects.active().get()
        assert customer.member_id == "M1" and customer.is_member and customer.is_bound
        contact = Contact.objects.get(external_id="Uabc")
        assert contact.customer_id == customer.pk and contact.source == "website_binding"
        binding = Binding.objects.get()
        assert binding.bound_at.isoformat() == "2026-01-05T01:30:00+00:00"
        assert CustomerEvent.objects.filter(type=EventType.BINDING, occurred_at=binding.bound_at).exists()

    def test_duplicates_change_nothing(self, api, team):
        events = [{"id": "d1", "type": "tag.add", "data": {"member_id": "M1", "tags": ["VIP"]}}]
        assert post(api, events).json()["accepted"] == 1
        counts = (CustomerEvent.objects.count(), CustomerTag.objects.count(), EventReceipt.objects.count())
        body = post(api, events + events).json()
        assert body == {"accepted": 0, "duplicates": 2, "rejected": []}
        assert (CustomerEvent.objects.count(), CustomerTag.objects.count(), EventReceipt.objects.count()) == counts

    def test_bad_events_rejected_with_index_and_nothing_half_applied(self, api, team, line):
        CustomAttributeFactory(team=team, key="level", type="number")
        response = post(
            api,
            [
                {"id": "ok", "type": "tag.add", "data": {"member_id": "M1", "tags": ["A"]}},
                {"id": "bad-type", "type": "order.paid", "data": {}},
                # identify applies the member first, then the attribute fails: nothing of it may stay
                {
                    "id": "bad-attr",
                    "type": "member.identify",
                    "data": {"member_id": "M2", "attributes": {"level": "x"}},
                },
                {"id": "bad-time", "type": "tag.add", "occurred_at": "yesterday", "data": {"member_id": "M1"}},
                {
                    "id": "no-contact",
                    "type": "unsubscribe",
                    "data": {"channel": line.pk, "external_id": "nope", "scope": "broadcast"},
                },
                "not an object",
                {"type": "tag.add", "data": {"member_id": "M1", "tags": ["B"]}},
                {"id": "ok2", "type": "system.website_remarketing", "data": {"member_id": "M1", "url": "https://x"}},
            ],
        )
        body = response.json()
        assert response.status_code == 200
        assert body["accepted"] == 2
        rejected = {r["index"]: r for r in body["rejected"]}
        assert set(rejected) == {1, 2, 3, 4, 5, 6}
        assert "type" in rejected[1]["errors"]
        assert "data.attributes.level" in rejected[2]["errors"]
        assert set(rejected[3]["errors"]) == {"occurred_at"}
        assert "data.external_id" in rejected[4]["errors"]
        assert "id" in rejected[6]["errors"] and rejected[6]["id"] is None
        assert not Customer.objects.filter(member_id="M2").exists()
        assert not EventReceipt.objects.filter(event_id="bad-attr").exists()
        system = CustomerEvent.objects.get(type=EventType.SYSTEM)
        assert system.data == {"name": "website_remarketing", "url": "https://x"}

    @pytest.mark.parametrize(
        "body",
        [[], {"event": []}, {"events": {}}, {"events": [{"id": str(i), "type": "tag.add"} for i in range(1001)]}, "x"],
    )
    def test_body_not_this_shape_is_400(self, api, body):
        response = api.post(URL, body, format="json")
        assert response.status_code == 400
        assert "error" in response.json()

    def test_checkout_and_conflict(self, api, team, line):
        contact = ContactFactory(channel=line, external_id="Ux")
        Customer.objects.filter(pk=contact.customer_id).update(member_id="M1")
        body = post(
            api,
            [
                {
                    "id": "c1",
                    "type": "checkout.completed",
                    "occurred_at": "2026-02-01T12:00:00Z",
                    "data": {
                        "channel": line.pk,
                        "external_id": "Ux",
                        "order_id": "SO1",
                        "amount": 100,
                        "currency": "twd",
                        "items": [{"name": "Tea", "quantity": 2, "price": 50}],
                    },
                },
                {"id": "c2", "type": "checkout.completed", "data": {"member_id": "M1", "order_id": "SO1", "amount": 5}},
                {
                    "id": "b1",
                    "type": "binding",
                    "data": {"channel": line.pk, "external_id": "Ux", "member_id": "M2", "method": "api"},
                },
            ],
        ).json()
        assert body["accepted"] == 1
        assert [r["index"] for r in body["rejected"]] == [1, 2]
        assert "data.order_id" in body["rejected"][0]["errors"]
        assert "data.member_id" in body["rejected"][1]["errors"]
        order = Order.objects.get()
        assert order.currency == "TWD" and order.customer_id == contact.customer_id
        event = CustomerEvent.objects.get(type=EventType.CHECKOUT_COMPLETED)
        assert event.data["order_id"] == "SO1" and event.data["items"][0]["quantity"] == 2
        assert Customer.objects.get(pk=contact.customer_id).last_checkout_at.isoformat().startswith("2026-02-01")

    def test_late_event_lands_on_its_day_and_future_is_rejected(self, api, team):
        late = (timezone.now() - timedelta(days=40)).isoformat()
        future = (timezone.now() + timedelta(days=1)).isoformat()
        body = post(
            api,
            [
                {"id": "l1", "type": "member.identify", "occurred_at": late, "data": {"member_id": "M1"}},
                {"id": "f1", "type": "member.identify", "occurred_at": future, "data": {"member_id": "M1"}},
            ],
        ).json()
        assert body["accepted"] == 1 and body["rejected"][0]["index"] == 1
        assert CustomerEvent.objects.get(type=EventType.MEMBER_REGISTERED).occurred_at < timezone.now() - timedelta(
            days=39
        )

    def test_tag_remove_attribute_set_and_customer_reference_through_a_merge(self, api, team, line):
        from cdp.services import identity

        CustomAttributeFactory(team=team, key="level", type="number")
        kept = Customer.objects.create(team=team, member_id="M1")
        gone = Customer.objects.create(team=team)
        identity.merge_customers(survivor=kept, absorbed=gone, evidence={"test": True})
        body = post(
            api,
            [
                {"id": "t1", "type": "tag.add", "data": {"customer": gone.pk, "tags": ["VIP", "New"]}},
                {"id": "t2", "type": "tag.remove", "data": {"customer": str(gone.pk), "tags": ["New"]}},
                {"id": "a1", "type": "attribute.set", "data": {"member_id": "M1", "attributes": {"level": "3.5"}}},
            ],
        ).json()
        assert body == {"accepted": 3, "duplicates": 0, "rejected": []}
        assert list(CustomerTag.objects.filter(customer=kept).values_list("tag__name", flat=True)) == ["VIP"]
        assert not CustomerTag.objects.filter(customer=gone).exists()
        assert str(kept.attribute_values.get().number_value) == "3.500000"
        types = list(CustomerEvent.objects.filter(customer=kept).values_list("type", flat=True))
        assert {"tag_added", "tag_removed", "attribute_changed"} <= set(types)

    def test_ids_and_quantities_must_be_whole_numbers(self, api, team, line):
        ContactFactory(team=team, channel=line, external_id="U1")
        order = {"channel": line.pk, "external_id": "U1", "order_id": "O1", "amount": 1, "currency": "TWD"}
        body = post(
            api,
            [
                {"id": "c1", "type": "tag.add", "data": {"channel": line.pk + 0.5, "external_id": "U1", "tags": ["A"]}},
                {"id": "c2", "type": "tag.add", "data": {"customer": "²", "tags": ["A"]}},
                {
                    "id": "c3",
                    "type": "checkout.completed",
                    "data": {**order, "items": [{"name": "T", "quantity": 2.5}]},
                },
                {
                    "id": "c4",
                    "type": "checkout.completed",
                    "data": {**order, "items": [{"name": "T", "quantity": 2.0}]},
                },
            ],
        ).json()
        rejected = {r["index"]: r["errors"] for r in body["rejected"]}
        assert body["accepted"] == 1 and set(rejected) == {0, 1, 2}, body
        assert "data.channel" in rejected[0] and "data.customer" in rejected[1] and "data.items" in rejected[2]
        assert Order.objects.get().order_id == "O1" and not CustomerTag.objects.exists()

    def test_unsubscribe_scope(self, api, team, line):
        contact = ContactFactory(channel=line, external_id="Uu")
        body = post(
            api,
            [
                {
                    "id": "u1",
                    "type": "unsubscribe",
                    "data": {"channel": line.pk, "external_id": "Uu", "scope": "web_push"},
                }
            ],
        ).json()
        assert body["accepted"] == 1
        contact.refresh_from_db()
        assert contact.unsubscribed_web_push and contact.status == "unsubscribed"

    def test_needs_edit_permission(self, team):
        agent = api_client_for(team, role="agent")
        assert agent.post(URL, {"events": []}, format="json").status_code == 403


@pytest.mark.django_db
def test_another_teams_channel_and_member_stay_out_of_reach(api, other_api, team, other_team, line):
    """Team B names team A's channel and member id in a batch (the batched identify + binding path)."""
    assert (
        post(
            api, [{"id": "a1", "type": "member.identify", "data": {"member_id": "M-A", "email": "a@example.com"}}]
        ).status_code
        == 200
    )
    a_customer = Customer.objects.for_team(team).get(member_id="M-A")
    body = post(
        other_api,
        [
            {"id": "b1", "type": "member.identify", "data": {"member_id": "M-A", "email": "a@example.com"}},
            {
                "id": "b2",
                "type": "binding",
                "data": {"channel": line.pk, "external_id": "U-A", "member_id": "M-A", "method": "api"},
            },
        ],
    ).json()
    assert body["accepted"] == 1 and [r["index"] for r in body["rejected"]] == [1]
    assert "data.channel" in body["rejected"][0]["errors"]
    assert Contact.objects.for_team(team).count() == 0  # nothing on team A's channel
    b_customer = Customer.objects.for_team(other_team).get(member_id="M-A")  # team B's own customer
    assert b_customer.pk != a_customer.pk
    a_customer.refresh_from_db()
    assert not a_customer.is_bound and Customer.objects.for_team(team).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("fast_path", [True, False], ids=["batched", "one-by-one"])
def test_rejected_events_carry_a_stable_code(api, team, line, fast_path):
    """Issue 22.4: each rejected entry has a machine-readable `code` beside its messages; the batched path
    (runs of identify + binding) and the event-by-event path give the same codes."""
    ContactFactory(channel=line, external_id="U-known")
    post(
        api,
        [
            {
                "id": "seed",
                "type": "binding",
                "data": {"channel": line.pk, "external_id": "U-known", "member_id": "M-1", "method": "api"},
            }
        ],
    )
    cases = {
        "member_id_conflict": {
            "type": "binding",
            "data": {"channel": line.pk, "external_id": "U-known", "member_id": "M-2", "method": "api"},
        },
        "unknown_channel": {"type": "binding", "data": {"channel": 10**9, "external_id": "U", "method": "api"}},
        "invalid_phone": {"type": "member.identify", "data": {"member_id": "M-3", "phone": "12"}},
        "invalid_email": {"type": "member.identify", "data": {"member_id": "M-3", "email": "nope"}},
        "missing_identity": {"type": "member.identify", "data": {}},
        "invalid_method": {"type": "binding", "data": {"channel": line.pk, "external_id": "U", "method": "x"}},
        "unknown_contact": {"type": "tag.add", "data": {"channel": line.pk, "external_id": "U-nobody", "tags": ["a"]}},
        "missing_reference": {"type": "tag.add", "data": {"tags": ["a"]}},
        "unknown_customer": {"type": "tag.add", "data": {"customer": 10**9, "tags": ["a"]}},
        "invalid_tags": {"type": "tag.add", "data": {"member_id": "M-1"}},
        "invalid_scope": {"type": "unsubscribe", "data": {"channel": line.pk, "external_id": "U-known"}},
        "invalid_order": {"type": "checkout.completed", "data": {"member_id": "M-1", "amount": "x", "order_id": "o"}},
        "invalid_attributes": {"type": "attribute.set", "data": {"member_id": "M-1", "attributes": {"nope": 1}}},
        "unknown_type": {"type": "nope"},
        "invalid_data": {"type": "member.identify", "data": {"member_id": ["M"]}},
        "future_occurred_at": {
            "type": "member.identify",
            "occurred_at": "2999-01-01T00:00:00Z",
            "data": {"member_id": "M-9"},
        },
        "invalid_occurred_at": {"type": "member.identify", "occurred_at": "soon", "data": {"member_id": "M-9"}},
    }
    events = []
    for code, event in cases.items():
        events.append({"id": f"e-{code}", **event})
        if not fast_path:  # a tag.add between every two events: no run of identify / binding is batched
            events.append({"id": f"t-{code}", "type": "tag.add", "data": {"member_id": "M-1", "tags": ["x"]}})
    events.append("not an object")
    body = post(api, events).json()
    codes = {entry["id"]: entry["code"] for entry in body["rejected"]}
    assert codes == {**{f"e-{code}": code for code in cases}, None: "invalid_event"}
    by_id = {entry["id"]: entry for entry in body["rejected"]}
    assert "data.member_id" in by_id["e-member_id_conflict"]["errors"]  # the messages stay beside the code
    assert "data.phone" in by_id["e-invalid_phone"]["errors"]


def test_every_rejection_code_is_documented():
    """Every code the events API can give is in REJECTION_CODES (the schema's enum and the README's list)."""
    import ast
    import pathlib

    from cdp.serializers import RejectedEventSerializer
    from cdp.services import events_api

    used = set(events_api.FIELD_CODES.values())
    for path in pathlib.Path(events_api.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Rejected":
                args = node.args[1:2] + [k.value for k in node.keywords if k.arg == "code"]
                used |= {a.value for a in args if isinstance(a, ast.Constant) and isinstance(a.value, str)}
            if isinstance(node, ast.Constant) and node.value == "future_occurred_at":
                used.add(node.value)
    assert {"member_id_conflict", "unknown_channel", "invalid_phone", "invalid_data"} <= used
    assert used <= set(events_api.REJECTION_CODES), used - set(events_api.REJECTION_CODES)
    enum = set(RejectedEventSerializer().fields["code"].choices)
    assert enum == set(events_api.REJECTION_CODES)
    readme = (pathlib.Path(events_api.__file__).parents[3] / "README.md").read_text()
    assert all(f"`{code}`" in readme for code in enum)
