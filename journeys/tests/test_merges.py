"""Issue 24 item 1: a customer merge (and its un-merge) while customers are inside journeys.

Run on SQLite and on PostgreSQL (DATABASE_URL): cdp writes the merge with a different statement on each."""

import datetime as dt

import pytest
from django.utils import timezone

from accounts import handoff
from cdp.models import CustomerEvent, MergeRecord
from cdp.services.identity import merge_customers, unmerge
from cdp.tests.factories import ChannelFactory, ContactFactory, CustomerFactory
from journeys import engine
from journeys.models import Enrollment, EnrollmentStep, MergeTransfer, TriggerCounter
from journeys.services import MERGE_ENDED_REASON, follow_merge
from journeys.tests.factories import delay, enroll_directly, message, node, published_journey
from messaging.models import OutboundMessage

pytestmark = pytest.mark.django_db

CONSUMER = "journeys.tasks.on_customer_events"


def run_all(now=None):
    while True:
        ids, token = engine.claim(500, now=now)
        if not ids:
            return
        engine.process(ids, token, now=now)


def handed_off():
    """Run the journeys' hand-off as the worker would (the merge's "merged" / "unmerged" events)."""
    handoff.drain(CONSUMER)


def test_merge_during_a_delay_sends_to_the_survivors_contact(team, line, module):
    journey = published_journey(team, line, [delay(hours=1), message(line, module)])
    absorbed_contact = ContactFactory(channel=line)
    absorbed = absorbed_contact.customer
    survivor = CustomerFactory(team=team)  # no LINE contact of its own until the merge
    ContactFactory(channel=ChannelFactory(team=team, kind="whatsapp"), customer=survivor)
    enrollment = enroll_directly(journey, absorbed_contact)
    run_all()
    enrollment.refresh_from_db()
    assert enrollment.waiting
    merge_customers(survivor=survivor, absorbed=absorbed, evidence={"test": "merge during a delay"})
    handed_off()
    enrollment.refresh_from_db()
    assert enrollment.customer_id == survivor.pk and enrollment.state == "active" and enrollment.waiting
    run_all(now=timezone.now() + dt.timedelta(hours=2))
    enrollment.refresh_from_db()
    assert enrollment.state == "completed"
    sent = OutboundMessage.objects.get(team=team, origin="journey")
    assert sent.contact_id == absorbed_contact.pk  # the survivor's LINE contact now
    assert EnrollmentStep.objects.get(enrollment=enrollment, node_type="message").outcome == "sent"
    assert not EnrollmentStep.objects.filter(outcome="skipped").exists()


def _two_in_one_journey(team, line, module, *, absorbed_further):
    """Both customers waiting in the same journey; one has passed more nodes. Counters 1 and 2."""
    journey = published_journey(
        team, line, [delay(hours=1), node("tags", add=["x"], remove=[]), delay(hours=1), message(line, module)]
    )
    a_contact, s_contact = ContactFactory(channel=line), ContactFactory(channel=line)
    absorbed, survivor = a_contact.customer, s_contact.customer
    a_enrollment, s_enrollment = enroll_directly(journey, a_contact), enroll_directly(journey, s_contact)
    run_all()  # both wait on the first delay
    ahead = a_enrollment if absorbed_further else s_enrollment
    Enrollment.objects.filter(pk=ahead.pk).update(next_run_at=timezone.now() - dt.timedelta(minutes=1))
    run_all()  # only the one ahead: its wait is over, tags, then it waits on the second delay
    assert EnrollmentStep.objects.filter(enrollment=ahead).count() == 3
    TriggerCounter.objects.create(team=team, journey=journey, customer=absorbed, count=1)
    TriggerCounter.objects.create(team=team, journey=journey, customer=survivor, count=2)
    return journey, absorbed, survivor, a_enrollment, s_enrollment


@pytest.mark.parametrize("absorbed_further", [True, False])
def test_both_in_one_journey_keep_the_one_further_along_and_unmerge_undoes_it(team, line, module, absorbed_further):
    journey, absorbed, survivor, a_enrollment, s_enrollment = _two_in_one_journey(
        team, line, module, absorbed_further=absorbed_further
    )
    kept, ended = (a_enrollment, s_enrollment) if absorbed_further else (s_enrollment, a_enrollment)
    ended.refresh_from_db()
    before = (ended.node, ended.next_run_at, ended.waiting)
    record = merge_customers(survivor=survivor, absorbed=absorbed, evidence={})
    handed_off()
    handed_off()  # nothing left: a second drain changes nothing
    kept.refresh_from_db(), ended.refresh_from_db()
    assert (kept.state, kept.customer_id) == ("active", survivor.pk)
    assert ended.state == "merged" and ended.reason == MERGE_ENDED_REASON and ended.next_run_at is None
    assert TriggerCounter.objects.get(journey=journey, customer=survivor).count == 3
    assert not TriggerCounter.objects.filter(customer=absorbed).exists()

    unmerge(merge_record=record, actor="test")
    handed_off()
    a_enrollment.refresh_from_db(), s_enrollment.refresh_from_db(), ended.refresh_from_db()
    assert a_enrollment.customer_id == absorbed.pk and s_enrollment.customer_id == survivor.pk
    assert a_enrollment.state == s_enrollment.state == "active"
    assert (ended.node, ended.next_run_at, ended.waiting) == before and ended.reason == ""
    assert TriggerCounter.objects.get(journey=journey, customer=survivor).count == 2
    assert TriggerCounter.objects.get(journey=journey, customer=absorbed).count == 1
    assert not MergeTransfer.objects.filter(returned_at__isnull=True).exists()


def test_following_a_merge_twice_changes_nothing_the_second_time(team, line, module):
    """The hand-off may deliver the events twice: each merge (two events) is followed once."""
    from journeys.tasks import on_customer_events

    journey = published_journey(team, line, [delay(hours=1)])
    a_contact, s_contact = ContactFactory(channel=line), ContactFactory(channel=line)
    first, second = enroll_directly(journey, a_contact), enroll_directly(journey, s_contact)
    merge_customers(survivor=s_contact.customer, absorbed=a_contact.customer, evidence={})
    event_ids = list(CustomerEvent.objects.filter(team=team, type="merged").values_list("pk", flat=True))
    assert len(event_ids) == 2
    on_customer_events(team.pk, event_ids)
    snapshot = list(Enrollment.objects.order_by("pk").values_list("pk", "customer_id", "state"))
    transfers = MergeTransfer.objects.count()
    on_customer_events(team.pk, event_ids)
    handed_off()
    assert list(Enrollment.objects.order_by("pk").values_list("pk", "customer_id", "state")) == snapshot
    assert MergeTransfer.objects.count() == transfers
    states = dict(Enrollment.objects.values_list("pk", "state"))
    assert sorted([states[first.pk], states[second.pk]]) == ["active", "merged"]


def test_an_unmerge_before_the_merge_was_followed_leaves_enrollments_where_they_are(team, line):
    journey = published_journey(team, line, [delay(hours=1)])
    a_contact, s_contact = ContactFactory(channel=line), ContactFactory(channel=line)
    enrollment = enroll_directly(journey, a_contact)
    record = merge_customers(survivor=s_contact.customer, absorbed=a_contact.customer, evidence={})
    unmerge(merge_record=record)
    handed_off()  # the merged event arrives after the unmerge: nothing to follow
    enrollment.refresh_from_db()
    assert enrollment.customer_id == a_contact.customer_id and enrollment.state == "active"


def test_a_merge_of_another_team_is_not_followed(team, other_team, line):
    journey = published_journey(team, line, [delay(hours=1)])
    a_contact, s_contact = ContactFactory(channel=line), ContactFactory(channel=line)
    enrollment = enroll_directly(journey, a_contact)
    record = merge_customers(survivor=s_contact.customer, absorbed=a_contact.customer, evidence={})
    assert follow_merge(other_team, record.pk) == 0
    enrollment.refresh_from_db()
    assert enrollment.customer_id == a_contact.customer_id
    assert MergeRecord.objects.filter(team=team).count() == 1


def test_the_engine_waits_for_a_merge_not_yet_followed(team, line, module):
    """Between the merge's commit and the hand-off the delay may end: the enrollment waits instead of running on a
    customer left without contacts (which skipped the message with "no contact on this channel")."""
    journey = published_journey(team, line, [delay(minutes=1), message(line, module)])
    absorbed_contact = ContactFactory(channel=line)
    survivor = CustomerFactory(team=team)
    enrollment = enroll_directly(journey, absorbed_contact)
    run_all()
    merge_customers(survivor=survivor, absorbed=absorbed_contact.customer, evidence={})
    later = timezone.now() + dt.timedelta(minutes=2)
    run_all(now=later)  # the hand-off has not run yet
    enrollment.refresh_from_db()
    assert enrollment.state == "active" and enrollment.node and not OutboundMessage.objects.exists()
    assert not EnrollmentStep.objects.filter(outcome="skipped").exists()
    handed_off()
    run_all(now=later + dt.timedelta(minutes=1))
    assert OutboundMessage.objects.get(team=team, origin="journey").contact_id == absorbed_contact.pk
