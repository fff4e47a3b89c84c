from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.models import Team
from cdp.models import Channel, Contact, Customer, CustomerEvent, EventType, SubscriptionStatus
from cdp.quota import refresh_over_quota, schedule_refresh, usage
from cdp.services import contacts

T0 = timezone.now().replace(microsecond=0) - timedelta(days=10)


@pytest.fixture
def line(team):
    return Channel.objects.create(team=team, kind="line", name="LINE OA", external_id="Ubot")


@pytest.mark.django_db
class TestContacts:
    def test_upsert_creates_contact_customer_and_event_at_event_time(self, line):
        result = contacts.upsert_contact(channel=line, external_id="U1", occurred_at=T0, display_name="Amy")
        assert result.created
        contact = result.contact
        assert contact.created_at == T0 and contact.subscribed_at == T0
        assert contact.customer.name == "Amy"
        event = CustomerEvent.objects.get(contact=contact)
        assert event.type == EventType.CONTACT_CREATED and event.occurred_at == T0
        again = contacts.upsert_contact(channel=line, external_id="U1", occurred_at=T0 + timedelta(days=1))
        assert not again.created and again.contact.pk == contact.pk
        assert Customer.objects.count() == 1

    def test_late_older_event_moves_created_at_back(self, line):
        contact = contacts.upsert_contact(channel=line, external_id="U1", occurred_at=T0).contact
        contacts.upsert_contact(channel=line, external_id="U1", occurred_at=T0 - timedelta(hours=2))
        contact.refresh_from_db()
        assert contact.created_at == T0 - timedelta(hours=2)

    def test_block_then_refollow_in_event_time_order(self, line):
        contact = contacts.upsert_contact(channel=line, external_id="U1", occurred_at=T0).contact
        contacts.block(contact, occurred_at=T0 + timedelta(days=1))
        # a stale follow delivered late does not undo the newer block
        _, changed = contacts.follow(contact, occurred_at=T0 + timedelta(hours=1))
        assert not changed
        contact.refresh_from_db()
        assert contact.status == SubscriptionStatus.BLOCKED
        contacts.follow(contact, occurred_at=T0 + timedelta(days=2))
        contact.refresh_from_db()
        assert contact.status == SubscriptionStatus.SUBSCRIBED and contact.subscribed_at == T0 + timedelta(days=2)
        types = list(
            CustomerEvent.objects.filter(contact=contact).order_by("occurred_at").values_list("type", flat=True)
        )
        assert types == ["contact_created", "blocked", "subscribed"]

    def test_scope_unsubscribe_makes_contact_invalid_and_back(self, line):
        contact = contacts.upsert_contact(channel=line, external_id="U1", occurred_at=T0).contact
        contacts.set_unsubscribed(contact, scope="broadcast")
        contact.refresh_from_db()
        assert contact.status == SubscriptionStatus.UNSUBSCRIBED and contact.unsubscribed_broadcast
        assert not Contact.objects.for_team(line.team).valid().exists()
        contacts.set_unsubscribed(contact, scope="broadcast", unsubscribed=False)
        contact.refresh_from_db()
        assert contact.status == SubscriptionStatus.SUBSCRIBED

    def test_bad_scope_is_rejected(self, line):
        contact = contacts.upsert_contact(channel=line, external_id="U1", occurred_at=T0).contact
        with pytest.raises(ValueError):
            contacts.set_unsubscribed(contact, scope="everything")

    def test_interaction_times_only_move_forward(self, line):
        contact = contacts.upsert_contact(channel=line, external_id="U1", occurred_at=T0).contact
        contacts.record_interaction(contact, kind="customer", occurred_at=T0 + timedelta(hours=5))
        contacts.record_interaction(contact, kind="customer", occurred_at=T0 + timedelta(hours=1))
        contact.refresh_from_db()
        contact.customer.refresh_from_db()
        assert contact.last_customer_interaction_at == T0 + timedelta(hours=5)
        assert contact.customer.last_customer_interaction_at == T0 + timedelta(hours=5)
        contacts.record_interactions([contact.pk], kind="team_marketing", occurred_at=T0 + timedelta(hours=3))
        contact.refresh_from_db()
        assert contact.last_team_marketing_at == T0 + timedelta(hours=3)


@pytest.mark.django_db
def test_quota_newest_contacts_are_over(team, line):
    team.contact_quota = 2
    team.save()
    made = [
        contacts.upsert_contact(channel=line, external_id=f"U{i}", occurred_at=T0 + timedelta(minutes=i)).contact
        for i in range(4)
    ]
    refresh_over_quota(team)
    over = set(Contact.objects.filter(is_over_quota=True).values_list("pk", flat=True))
    assert over == {made[2].pk, made[3].pk}
    assert usage(team).remaining == 0 and usage(team).percent == 200.0 and usage(team).over == 2
    team.contact_quota = 3
    team.save()
    refresh_over_quota(team)
    assert set(Contact.objects.filter(is_over_quota=True).values_list("pk", flat=True)) == {made[3].pk}
    assert Contact.objects.for_team(team).reachable().count() == 3


def _quota_refreshes(team):
    """(queued refresh tasks, scheduled trailing refreshes) of the team's quota."""
    from django_q.models import OrmQ, Schedule

    queued = sum(1 for task in OrmQ.objects.all() if task.name() == f"quota:{team.pk}")  # this team's only
    trailing = Schedule.objects.filter(func="cdp.tasks.refresh_quota", args=f"({team.pk},)")
    return queued, list(trailing)


@pytest.mark.django_db(transaction=True)
def test_quota_flags_follow_every_change_inside_a_debounce_window(team, line, admin_client):
    """The first change refreshes at once; changes inside the window get one more refresh after it (the first
    may have run before they committed); adding, deleting and a new quota all count. Real commits (transaction=True):
    the callbacks run as they do in production."""
    from cdp import tasks

    Team.objects.filter(pk=team.pk).update(contact_quota=1)
    team.refresh_from_db()
    first = contacts.upsert_contact(channel=line, external_id="U1", occurred_at=T0).contact
    assert _quota_refreshes(team) == (1, [])
    tasks.refresh_quota(team.pk)  # the queued task runs before the next contacts commit
    second = contacts.upsert_contact(channel=line, external_id="U2", occurred_at=T0 + timedelta(minutes=1))
    contacts.upsert_contact(channel=line, external_id="U3", occurred_at=T0 + timedelta(minutes=2))
    queued, trailing = _quota_refreshes(team)
    assert queued == 1 and len(trailing) == 1  # one trailing refresh for the whole window
    assert trailing[0].schedule_type == "O" and trailing[0].repeats == -1
    assert trailing[0].next_run > timezone.now() + timedelta(seconds=3)
    assert not Contact.objects.filter(is_over_quota=True).exists()  # stale until the trailing refresh
    tasks.refresh_quota(team.pk)
    assert set(Contact.objects.filter(is_over_quota=True).values_list("external_id", flat=True)) == {"U2", "U3"}

    # Deleting a contact in the admin (a new window) moves the line too.
    from django.core.cache import cache

    cache.clear()
    response = admin_client.post(f"/admin/cdp/contact/{first.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302 and _quota_refreshes(team)[0] == 2
    tasks.refresh_quota(team.pk)
    assert set(Contact.objects.filter(is_over_quota=True).values_list("external_id", flat=True)) == {"U3"}
    assert second.contact.external_id == "U2"

    cache.clear()
    team.contact_quota = 5
    team.save()
    assert _quota_refreshes(team)[0] == 3


@pytest.fixture
def refreshed(monkeypatch):
    """The teams whose debounce cache an after-commit quota callback checked, in order."""
    calls = []
    monkeypatch.setattr("cdp.quota._enqueue_refresh", calls.append)
    return calls


@pytest.mark.django_db(transaction=True)
def test_one_transaction_checks_the_debounce_once_per_team(team, other_team, line, refreshed):
    """A batch creating many contacts registers its refresh once per team, however many contacts it creates."""
    with transaction.atomic():
        for n in range(3):
            contacts.upsert_contact(channel=line, external_id=f"U{n}", occurred_at=T0)
        schedule_refresh(other_team.pk)
        schedule_refresh(team.pk)
        assert refreshed == []  # nothing before the commit
    assert refreshed == sorted([team.pk, other_team.pk])
    schedule_refresh(team.pk)  # autocommit: at once, a new transaction
    assert refreshed == sorted([team.pk, other_team.pk]) + [team.pk]


@pytest.mark.django_db(transaction=True)
def test_a_rollback_never_loses_a_later_refresh(team, other_team, refreshed):
    """The refresh registered in a rolled-back savepoint or transaction is dropped with it; a later change of the
    same team in the transaction or in the next one is still refreshed (a rolled-back team may be refreshed once
    more: harmless)."""
    with transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():
            schedule_refresh(team.pk)
            raise RuntimeError("savepoint rolled back")
        schedule_refresh(team.pk)
    assert refreshed == [team.pk]

    with pytest.raises(RuntimeError), transaction.atomic():
        schedule_refresh(other_team.pk)
        raise RuntimeError("transaction rolled back")
    assert refreshed == [team.pk]
    with transaction.atomic():
        schedule_refresh(other_team.pk)
    assert refreshed == [team.pk, other_team.pk]
