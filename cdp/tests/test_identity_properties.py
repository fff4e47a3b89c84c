"""Property test: after any sequence of bindings (and merges / un-merges), every contact belongs to exactly one
active customer, no active customer holds two member ids, and an un-merge restores both customers."""

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdp.models import AttributeValue, Binding, Contact, Customer, CustomerTag
from cdp.services import attributes, identity, tags
from cdp.services import points as points_service
from cdp.tests.factories import ChannelFactory, ContactFactory, CustomAttributeFactory

N_CONTACTS = 6
MEMBERS = ["M1", "M2", "M3"]
PHONES = ["0912000001", "0912000002"]
EMAILS = ["a@example.com", "b@example.com"]

bind_op = st.tuples(
    st.just("bind"),
    st.integers(0, N_CONTACTS - 1),
    st.sampled_from(["", *MEMBERS]),
    st.sampled_from(["", *PHONES]),
    st.sampled_from(["", *EMAILS]),
)
merge_op = st.tuples(st.just("merge_unmerge"), st.integers(0, N_CONTACTS - 1), st.integers(0, N_CONTACTS - 1))
decorate_op = st.tuples(st.just("decorate"), st.integers(0, N_CONTACTS - 1), st.sampled_from(["x", "y", "z"]))
ops = st.lists(st.one_of(bind_op, merge_op, decorate_op), min_size=1, max_size=14)


def state_of(customer):
    customer.refresh_from_db()
    return {
        "contacts": set(Contact.objects.filter(customer=customer).values_list("pk", flat=True)),
        "tags": set(CustomerTag.objects.filter(customer=customer).values_list("tag__name", flat=True)),
        "values": {
            (v.attribute.key, v.text_value)
            for v in AttributeValue.objects.filter(customer=customer).select_related("attribute")
        },
        "fields": {
            k: getattr(customer, k)
            for k in ("member_id", "phone", "email", "points_balance", "is_bound", "is_member", "merged_into_id")
        },
    }


def check_invariants(team):
    active = set(Customer.objects.for_team(team).active().values_list("pk", flat=True))
    for contact in Contact.objects.for_team(team):
        assert contact.customer_id in active, "every contact belongs to an active customer"
    for customer in Customer.objects.for_team(team).active():
        bound_members = set(
            Binding.objects.filter(contact__customer=customer).exclude(member_id="").values_list("member_id", flat=True)
        )
        assert len(bound_members) <= 1, f"customer {customer.pk} holds member ids {bound_members}"
        if bound_members:
            assert customer.member_id in bound_members
    members = list(Customer.objects.for_team(team).active().exclude(member_id=None).values_list("member_id", flat=True))
    assert len(members) == len(set(members))


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=ops)
def test_identity_invariants(team, sequence):
    with transaction.atomic():
        line, wa = ChannelFactory(team=team, kind="line"), ChannelFactory(team=team, kind="whatsapp")
        CustomAttributeFactory(team=team, key="note", type="text")
        contacts_ = [ContactFactory(channel=line if i % 2 else wa) for i in range(N_CONTACTS)]
        for op in sequence:
            if op[0] == "bind":
                _, i, member_id, phone, email = op
                if not (member_id or phone or email):
                    continue
                contact = Contact.objects.select_related("team").get(pk=contacts_[i].pk)
                result = identity.bind_contact(
                    contact=contact, method="api", member_id=member_id, phone=phone, email=email
                )
                assert result.status in ("bound", "already_bound", "member_id_conflict")
                if result.status == "already_bound":
                    again = identity.bind_contact(
                        contact=contact, method="api", member_id=member_id, phone=phone, email=email
                    )
                    assert again.status == "already_bound" and not again.merges
            elif op[0] == "decorate":
                _, i, label = op
                customer = Contact.objects.get(pk=contacts_[i].pk).customer
                tags.add_tags(customer=customer, names=[label], source="test")
                attributes.set_attributes(customer=customer, values={"note": label}, source="test")
                points_service.adjust_points(customer=customer, delta=len(label) + i, reason="test", source="api")
            else:
                _, i, j = op
                a = Contact.objects.get(pk=contacts_[i].pk).customer
                b = Contact.objects.get(pk=contacts_[j].pk).customer
                if a.pk == b.pk:
                    continue
                before_a, before_b = state_of(a), state_of(b)
                try:
                    record = identity.merge_customers(survivor=a, absorbed=b, evidence={"reason": "property"})
                except identity.MemberIdConflict:
                    assert a.member_id and b.member_id and a.member_id != b.member_id
                    continue
                check_invariants(team)
                identity.unmerge(merge_record=record, actor="property")
                assert state_of(a) == before_a
                assert state_of(b) == before_b
            check_invariants(team)
        transaction.set_rollback(True)
