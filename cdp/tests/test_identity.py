from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test import TestCase
from django.utils import timezone

from accounts import handoff
from accounts.models import Handoff
from cdp.models import AttributeValue, Binding, Contact, Customer, CustomerEvent, CustomerTag, EventType, MergeRecord
from cdp.services import attributes, identity, tags
from cdp.services import points as points_service
from cdp.tests.factories import ChannelFactory, ContactFactory, CustomAttributeFactory

T0 = timezone.now().replace(microsecond=0) - timedelta(days=30)


@pytest.fixture
def line(team):
    return ChannelFactory(team=team, kind="line")


@pytest.fixture
def wa(team):
    return ChannelFactory(team=team, kind="whatsapp")


def bind(contact, **kw):
    kw.setdefault("method", "binding_plugin")
    return identity.bind_contact(contact=contact, **kw)


@pytest.mark.django_db
class TestBinding:
    def test_bind_sets_member_binding_row_and_event(self, line):
        contact = ContactFactory(channel=line)
        result = bind(contact, member_id="M1", email="A@Example.com ", occurred_at=T0)
        assert result.status == "bound" and result.merges == []
        customer = Customer.objects.get(pk=contact.customer_id)
        assert customer.member_id == "M1" and customer.email == "a@example.com"
        assert customer.is_bound and customer.first_bound_at == T0 and customer.first_bound_method == "binding_plugin"
        assert customer.is_member
        binding = Binding.objects.get()
        assert binding.bound_at == T0 and binding.method == "binding_plugin"
        event = CustomerEvent.objects.get(type=EventType.BINDING)
        assert event.occurred_at == T0 and event.contact_id == contact.pk

    def test_same_binding_twice_changes_nothing(self, line):
        contact = ContactFactory(channel=line)
        bind(contact, member_id="M1", occurred_at=T0)
        counts = (Binding.objects.count(), CustomerEvent.objects.count(), Customer.objects.count())
        again = bind(contact, member_id="M1", occurred_at=T0 + timedelta(hours=1))
        assert again.status == "already_bound"
        assert (Binding.objects.count(), CustomerEvent.objects.count(), Customer.objects.count()) == counts

    def test_two_channels_one_member_become_one_customer(self, line, wa):
        a, b = ContactFactory(channel=line), ContactFactory(channel=wa)
        bind(a, member_id="M1", occurred_at=T0)
        result = bind(b, member_id="M1", method="pixel", occurred_at=T0 + timedelta(days=1))
        assert result.status == "bound" and len(result.merges) == 1
        assert Contact.objects.get(pk=b.pk).customer_id == Contact.objects.get(pk=a.pk).customer_id
        assert Customer.objects.active().count() == 1
        survivor = Customer.objects.active().get()
        assert survivor.first_bound_at == T0 and survivor.first_bound_method == "binding_plugin"

    def test_member_id_conflict_is_refused(self, line):
        contact = ContactFactory(channel=line)
        bind(contact, member_id="M1")
        other = ContactFactory(channel=line)
        bind(other, member_id="M2")
        before = Binding.objects.count()
        assert bind(contact, member_id="M2").status == "member_id_conflict"
        assert Binding.objects.count() == before and Customer.objects.active().count() == 2

    def test_phone_match_is_a_team_switch(self, team, line, wa):
        a, b = ContactFactory(channel=line), ContactFactory(channel=wa)
        bind(a, phone="0912345678")
        team.match_by_phone = False
        team.save()
        a.team.refresh_from_db()
        b = Contact.objects.get(pk=b.pk)
        bind(b, phone="+886912345678")
        assert Customer.objects.active().count() == 2
        team.match_by_phone = True
        team.save()
        c = ContactFactory(channel=wa)
        c = Contact.objects.select_related("team").get(pk=c.pk)
        result = bind(c, phone="+886 912 345 678")
        assert result.merges  # matched the oldest customer with that phone
        assert Contact.objects.get(pk=c.pk).customer_id == Contact.objects.get(pk=a.pk).customer_id

    def test_email_match_is_a_team_switch(self, team, line, wa):
        a, b, c = ContactFactory(channel=line), ContactFactory(channel=wa), ContactFactory(channel=wa)
        bind(a, email="Amy@Example.com")
        team.match_by_email = False
        team.save()
        bind(Contact.objects.get(pk=b.pk), email="amy@example.com")
        assert Contact.objects.get(pk=b.pk).customer_id != Contact.objects.get(pk=a.pk).customer_id
        team.match_by_email = True
        team.save()
        result = bind(Contact.objects.select_related("team").get(pk=c.pk), email="AMY@example.com")
        assert result.merges  # normalised, and matched the oldest customer with that email
        assert Contact.objects.get(pk=c.pk).customer_id == Contact.objects.get(pk=a.pk).customer_id

    def test_bad_phone_names_the_field(self, line):
        with pytest.raises(ValidationError) as exc:
            bind(ContactFactory(channel=line), phone="12")
        assert "phone" in exc.value.message_dict


@pytest.mark.django_db
class TestIdentify:
    def test_register_then_login(self, team):
        c = identity.identify_member(team=team, member_id="M1", name="Amy", occurred_at=T0)
        assert c.is_member and c.member_since == T0
        again = identity.identify_member(team=team, member_id="M1", occurred_at=T0 + timedelta(days=1))
        assert again.pk == c.pk
        types = list(CustomerEvent.objects.order_by("id").values_list("type", flat=True))
        assert types == [EventType.MEMBER_REGISTERED, EventType.MEMBER_LOGIN]

    def test_identify_with_bad_attribute_changes_nothing(self, team):
        CustomAttributeFactory(team=team, key="level", type="number")
        from django.db import transaction

        with pytest.raises(ValidationError) as exc:
            with transaction.atomic():
                identity.identify_member(team=team, member_id="M1", attributes={"level": "high"})
        assert "level" in exc.value.message_dict
        assert not Customer.objects.exists()


def rich_customer(team, channel, *, member_id=None, tag_names=(), values=None, points=0, at=T0):
    contact = ContactFactory(channel=channel)
    customer = contact.customer
    if member_id:
        Customer.objects.filter(pk=customer.pk).update(member_id=member_id)
        customer.refresh_from_db()
    if tag_names:
        tags.add_tags(customer=customer, names=list(tag_names), source="api", occurred_at=at)
    if values:
        attributes.set_attributes(customer=customer, values=values, source="api", occurred_at=at)
    if points:
        points_service.adjust_points(customer=customer, delta=points, reason="test", source="api")
    return customer


@pytest.mark.django_db
class TestMerge:
    def test_merge_rules_and_unmerge(self, team, line, wa):
        CustomAttributeFactory(team=team, key="level", type="text")
        CustomAttributeFactory(team=team, key="city", type="text")
        CustomAttributeFactory(team=team, key="score", type="number")
        s = rich_customer(team, line, member_id="M1", tag_names=["a", "b"], values={"level": "gold"}, points=10, at=T0)
        a = rich_customer(
            team, wa, tag_names=["b", "c"], values={"level": "silver", "city": "Taipei"}, points=5, at=T0 + timedelta(1)
        )
        Customer.objects.filter(pk=a.pk).update(
            last_customer_interaction_at=T0 + timedelta(days=3),
            is_bound=True,
            first_bound_at=T0,
            first_bound_method="coupon",
        )
        a.refresh_from_db()
        a_contacts = set(Contact.objects.filter(customer=a).values_list("pk", flat=True))
        record = identity.merge_customers(survivor=s, absorbed=a, evidence={"reason": "test"})
        s.refresh_from_db()
        a.refresh_from_db()
        assert a.merged_into_id == s.pk and not Customer.objects.active().filter(pk=a.pk).exists()
        assert set(CustomerTag.objects.filter(customer=s).values_list("tag__name", flat=True)) == {"a", "b", "c"}
        vals = {v.attribute.key: v.text_value for v in AttributeValue.objects.filter(customer=s)}
        assert vals == {"level": "silver", "city": "Taipei"}  # the later write wins
        assert s.points_balance == 15 and s.points_accumulated == 15
        assert s.last_customer_interaction_at == T0 + timedelta(days=3)
        assert s.is_bound and s.first_bound_method == "coupon"
        assert set(Contact.objects.filter(customer=s).values_list("pk", flat=True)) >= a_contacts
        assert CustomerEvent.objects.filter(type=EventType.MERGED).count() == 2
        # after the merge: points spent on the survivor stay there
        points_service.adjust_points(customer=s, delta=-3, reason="spent", source="api")
        survivor, restored = identity.unmerge(merge_record=record, actor="tester")
        assert restored.merged_into_id is None and restored.points_balance == 5
        assert survivor.points_balance == 7
        assert set(Contact.objects.filter(customer=restored).values_list("pk", flat=True)) == a_contacts
        assert set(CustomerTag.objects.filter(customer=survivor).values_list("tag__name", flat=True)) == {"a", "b"}
        assert set(CustomerTag.objects.filter(customer=restored).values_list("tag__name", flat=True)) == {"b", "c"}
        vals_s = {v.attribute.key: v.text_value for v in AttributeValue.objects.filter(customer=survivor)}
        vals_a = {v.attribute.key: v.text_value for v in AttributeValue.objects.filter(customer=restored)}
        assert vals_s == {"level": "gold"} and vals_a == {"level": "silver", "city": "Taipei"}
        assert survivor.last_customer_interaction_at is None and not survivor.is_bound
        assert restored.first_bound_method == "coupon"
        record.refresh_from_db()
        assert record.unmerged_at and record.unmerged_by == "tester"
        with pytest.raises(identity.UnmergeError):
            identity.unmerge(merge_record=record)

    def test_member_id_moves_and_comes_back(self, team, line, wa):
        s = rich_customer(team, line)
        a = rich_customer(team, wa, member_id="M9")
        record = identity.merge_customers(survivor=s, absorbed=a, evidence={})
        s.refresh_from_db()
        assert s.member_id == "M9"
        survivor, restored = identity.unmerge(merge_record=record)
        assert restored.member_id == "M9" and not survivor.member_id

    def test_what_the_survivor_gained_after_the_merge_survives_the_unmerge(self, team, line, wa):
        s = rich_customer(team, line)
        a = rich_customer(team, wa)
        Customer.objects.filter(pk=s.pk).update(name="Amy", email="amy@old.example")
        Customer.objects.filter(pk=a.pk).update(phone="+886912345678", name="")
        s.refresh_from_db()
        a.refresh_from_db()
        record = identity.merge_customers(survivor=s, absorbed=a, evidence={})
        s.refresh_from_db()
        assert s.phone == "+886912345678"  # taken from the absorbed customer
        # later, the survivor's own member logs in: a member id and a new email of its own
        identity.identify_member(team=team, member_id="M5", email="amy@new.example", phone="+886912345678")
        survivor, restored = identity.unmerge(merge_record=record)
        assert survivor.pk == s.pk and survivor.member_id == "M5" and survivor.is_member
        assert survivor.email == "amy@new.example" and survivor.name == "Amy"
        # the phone still holds what the merge made of it, so it goes back with the absorbed customer
        assert restored.phone == "+886912345678" and restored.member_id is None and not restored.is_member

    def test_a_member_met_after_the_merge_keeps_its_membership_on_unmerge(self, team, line, wa):
        s = rich_customer(team, line)
        a = rich_customer(team, wa)
        Customer.objects.filter(pk=a.pk).update(is_member=True, member_since=T0, phone="+886911111111")
        a.refresh_from_db()
        record = identity.merge_customers(survivor=s, absorbed=a, evidence={})
        identity.bind_contact(contact=Contact.objects.get(customer=s, channel=line), method="api", member_id="X1")
        identity.identify_member(team=team, member_id="X1")
        login = CustomerEvent.objects.get(customer=s, type=EventType.MEMBER_LOGIN)
        survivor, restored = identity.unmerge(merge_record=record)
        assert survivor.member_id == "X1" and survivor.is_member
        assert survivor.member_since == login.occurred_at > record.merged_at
        assert restored.is_member and restored.member_since == T0 and restored.phone == "+886911111111"

    def test_logins_of_the_absorbed_member_go_back_with_its_member_id(self, team, line, wa):
        s = rich_customer(team, line)
        a = rich_customer(team, wa, member_id="M7")
        Customer.objects.filter(pk=s.pk).update(phone="+886922222222")
        Customer.objects.filter(pk=a.pk).update(phone="+886933333333")
        s.refresh_from_db()
        a.refresh_from_db()
        record = identity.merge_customers(survivor=s, absorbed=a, evidence={})
        identity.identify_member(team=team, member_id="M7", phone="+886933333333", email="m7@example.com")
        s.refresh_from_db()
        assert s.member_id == "M7" and s.phone == "+886933333333"
        survivor, restored = identity.unmerge(merge_record=record)
        assert survivor.member_id is None and survivor.phone == "+886922222222" and not survivor.email
        assert restored.member_id == "M7" and restored.phone == "+886933333333"

    def test_different_member_ids_never_merge(self, team, line, wa):
        s = rich_customer(team, line, member_id="M1")
        a = rich_customer(team, wa, member_id="M2")
        with pytest.raises(identity.MemberIdConflict):
            identity.merge_customers(survivor=s, absorbed=a, evidence={})
        assert not MergeRecord.objects.exists()
        assert Customer.objects.active().count() == 2

    def test_merge_hands_its_events_to_the_consumers_in_its_own_transaction(self, team, line, wa, settings):
        """One hand-off row per consumer, carrying the two "merged" events, written with the merge (a worker sees
        it at commit and drains it); a merge that rolls back leaves no row behind."""
        s, a, b = rich_customer(team, line), rich_customer(team, wa), rich_customer(team, wa)
        Handoff.objects.all().delete()  # only what the merge adds
        record = identity.merge_customers(survivor=s, absorbed=a, evidence={"reason": "test"})
        merged = set(CustomerEvent.objects.filter(type=EventType.MERGED).values_list("pk", flat=True))
        assert len(merged) == 2
        rows = list(Handoff.objects.all())
        assert sorted(row.consumer for row in rows) == sorted(settings.CUSTOMER_EVENT_CONSUMERS)
        for row in rows:
            assert row.team_id == team.pk and row.topic == "events" and set(row.payload) == merged
            assert handoff.handle_team(row.consumer, team.pk) == 1  # what a worker does with it
        assert not Handoff.objects.exists()
        event = CustomerEvent.objects.get(customer=a, type=EventType.MERGED)
        expected = {"merge_id": record.pk, "survivor_id": s.pk, "absorbed_id": a.pk, "evidence": {"reason": "test"}}
        assert event.data == expected

        with pytest.raises(RuntimeError), transaction.atomic():
            identity.merge_customers(survivor=s, absorbed=b, evidence={})
            assert Handoff.objects.count() == len(settings.CUSTOMER_EVENT_CONSUMERS)
            raise RuntimeError("rolled back")
        assert not Handoff.objects.exists() and Customer.objects.get(pk=b.pk).merged_into_id is None

    def test_the_drain_is_hinted_after_commit(self, team, line, wa, monkeypatch):
        """Queue messages are only hints, sent when the merge has committed (never for a rolled-back one)."""
        s, a = rich_customer(team, line), rich_customer(team, wa)
        hinted = []
        monkeypatch.setattr("accounts.queues.enqueue", lambda func, *args, **kw: hinted.append((func, args)))
        handoff._hint.cache_clear()
        with TestCase.captureOnCommitCallbacks(execute=True):
            identity.merge_customers(survivor=s, absorbed=a, evidence={})
            assert hinted == []
        assert sorted(args for _func, args in hinted) == sorted((path,) for path in handoff.consumers("events"))
        handoff._hint.cache_clear()


@pytest.mark.django_db
class TestPointsAndAttributes:
    def test_deduct_never_below_zero(self, team, line):
        c = rich_customer(team, line, points=5)
        with pytest.raises(ValidationError) as exc:
            points_service.adjust_points(customer=c, delta=-6, reason="x", source="api")
        assert "delta" in exc.value.message_dict
        c.refresh_from_db()
        assert c.points_balance == 5

    def test_attribute_errors_name_the_key(self, team, line):
        CustomAttributeFactory(team=team, key="Level", type="number")
        CustomAttributeFactory(team=team, key="note", type="text")
        c = rich_customer(team, line)
        with pytest.raises(ValidationError) as exc:
            attributes.set_attributes(customer=c, values={"Level": "x", "level": 1, "note": "y" * 1001}, source="api")
        assert set(exc.value.message_dict) == {"Level", "level", "note"}
        assert not AttributeValue.objects.exists()
        attributes.set_attributes(customer=c, values={"Level": "12.5", "note": "ok"}, source="api")
        assert {v.attribute.key: v.value for v in AttributeValue.objects.all()}["Level"] == Decimal("12.5")
        event = CustomerEvent.objects.filter(type=EventType.ATTRIBUTE_CHANGED).first()
        assert set(event.data) >= {"key", "old", "new"}
