"""The statistics' daily rollup (DailyCount) equals a recount from the participants after every transition: each
way a participant is made (click, disabled campaign, no link, gone contact, server error, bulk rows), completed
(success, each failure reason, a late code, a code sent twice) or swept; after compaction; and from the backfill
migration's function. The recount is the statistics' definition before the rollup, run on the participants."""

import importlib
from datetime import datetime, timedelta

import pytest
from django.apps import apps
from django.db import transaction
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from cdp.models import Contact
from cdp.tests.factories import ChannelFactory, ContactFactory, CustomerFactory
from omnilink import links, rollup, services
from omnilink.models import DailyCount, FailureReason, Participant, ParticipantStatus

from .helpers import make_campaign

pytestmark = pytest.mark.django_db


def recount(campaign, first=None, last=None):
    """The statistics computed from the participants themselves (the definitions the rollup must reproduce)."""
    qs = services.participants_in_range(campaign, first, last)
    counts, new_contacts = {}, 0
    for row in qs.values("status", "reason").annotate(n=Count("id"), new=Count("id", filter=Q(target_is_new=True))):
        counts[(row["status"], row["reason"])] = row["n"]
        if row["status"] == ParticipantStatus.SUCCESS:
            new_contacts += row["new"]
    by_status = {s: sum(n for (st, _r), n in counts.items() if st == s) for s in ParticipantStatus.values}
    days = {}
    for row in (
        qs.annotate(day=TruncDate("first_clicked_at", tzinfo=campaign.team.zone))
        .values("day", "status")
        .annotate(n=Count("id"))
    ):
        day = days.setdefault(row["day"], {"day": row["day"], "participants": 0, "successes": 0, "failures": 0})
        day["participants"] += row["n"]
        if row["status"] == ParticipantStatus.SUCCESS:
            day["successes"] += row["n"]
        elif row["status"] == ParticipantStatus.FAILURE:
            day["failures"] += row["n"]
    return {
        "participants": sum(by_status.values()),
        "new_contacts": new_contacts,
        "successes": by_status[ParticipantStatus.SUCCESS],
        "failures": by_status[ParticipantStatus.FAILURE],
        "pending": by_status[ParticipantStatus.PENDING],
        "failure_reasons": {code: counts.get((ParticipantStatus.FAILURE, code), 0) for code in FailureReason.values},
        "days": services._fill_days(days, first, last),
    }


def from_rollup(campaign, first=None, last=None):
    stats = services.statistics(campaign, first, last)
    keys = ("participants", "new_contacts", "successes", "failures", "pending", "days")
    return {
        **{key: stats[key] for key in keys},
        "failure_reasons": {r["reason"]: r["count"] for r in stats["failure_reasons"]},
    }


def assert_rollup_matches(campaign):
    assert from_rollup(campaign) == recount(campaign)
    today = timezone.localtime(timezone.now(), campaign.team.zone).date()
    first = today - timedelta(days=3)
    assert from_rollup(campaign, first, today) == recount(campaign, first, today)
    figures = services.campaign_figures(campaign.team, [campaign.pk])[campaign.pk]
    stats = recount(campaign)
    assert (figures["participants"], figures["success"], figures["failure"], figures["pending"]) == (
        stats["participants"],
        stats["successes"],
        stats["failures"],
        stats["pending"],
    )


def click(campaign, contact_id, **kw):
    return services.click(links.make_token(campaign.pk, contact_id), **kw)


def complete(campaign, participant, contact, late=False):
    """The participant's code arrives from `contact` a minute after the click (or after the window)."""
    after = timedelta(hours=campaign.completion_hours + 1) if late else timedelta(minutes=1)
    at = participant.first_clicked_at + after
    with transaction.atomic():  # as inside webhook processing
        return services.complete(channel=campaign.target_channel, contact=contact, code=participant.code, at=at)


def test_every_transition_keeps_the_rollup_equal_to_a_recount(team, line, wa, monkeypatch):
    campaign = make_campaign(team, line, wa, completion_hours=72)
    sources = [ContactFactory(channel=line, customer=CustomerFactory(team=team)) for _ in range(9)]
    now = timezone.now()
    outcomes = []
    for i, source in enumerate(sources):  # first clicks, some yesterday and two days ago
        outcomes.append(click(campaign, source.pk, now=now - timedelta(days=i % 3, minutes=i)))
        assert_rollup_matches(campaign)
    click(campaign, sources[0].pk, now=now)  # a later click changes nothing
    assert_rollup_matches(campaign)

    # Success with a new target contact, and one with a contact that existed before the click.
    fresh = ContactFactory(channel=wa, external_id="+85290000001")
    assert complete(campaign, outcomes[0].participant, fresh)
    assert_rollup_matches(campaign)
    old = ContactFactory(channel=wa, external_id="+85290000002", created_at=now - timedelta(days=30))
    complete(campaign, outcomes[1].participant, old)
    assert_rollup_matches(campaign)
    assert recount(campaign)["new_contacts"] == 1
    complete(campaign, outcomes[1].participant, old)  # sent twice
    assert_rollup_matches(campaign)

    # Failures at completion: member ids differ, the target gone, the source gone, a server error, a late code.
    sources[2].customer.member_id = "M-1"
    sources[2].customer.save()
    conflicting = ContactFactory(channel=wa, customer=CustomerFactory(team=team, member_id="M-2"))
    complete(campaign, outcomes[2].participant, conflicting)
    vanished = Contact(pk=987654321, team=team, channel=wa, external_id="+85299999999", created_at=now)
    complete(campaign, outcomes[3].participant, vanished)
    Contact.objects.filter(pk=sources[4].pk).delete()
    complete(campaign, outcomes[4].participant, ContactFactory(channel=wa))
    assert_rollup_matches(campaign)

    def boom(**kwargs):
        raise RuntimeError("identity service down")

    monkeypatch.setattr(services, "bind_to_contact", boom)
    complete(campaign, outcomes[5].participant, ContactFactory(channel=wa))
    monkeypatch.undo()
    complete(campaign, outcomes[6].participant, ContactFactory(channel=wa), late=True)
    assert_rollup_matches(campaign)
    reasons = recount(campaign)["failure_reasons"]
    for reason in ("member_id_conflict", "target_contact_not_found", "source_contact_not_found", "server_error"):
        assert reasons[reason] == 1, reason
    assert reasons["not_completed"] == 1

    # The sweep settles the rest (7 and 8), exactly once.
    assert services.sweep_timeouts(now=now + timedelta(days=4), batch_size=1) == 2
    assert services.sweep_timeouts(now=now + timedelta(days=4)) == 0
    assert_rollup_matches(campaign)
    assert recount(campaign)["pending"] == 0

    # Participants failing at the click: disabled, gone source, no link, a server error.
    services.set_enabled(campaign, False)
    click(campaign, ContactFactory(channel=line).pk)
    services.set_enabled(campaign, True)
    gone = ContactFactory(channel=line)
    gone_id = gone.pk
    gone.delete()
    click(campaign, gone_id)
    services.record_server_error(links.make_token(campaign.pk, ContactFactory(channel=line).pk))
    wa.credentials = {}
    wa.save()
    campaign.refresh_from_db()
    click(campaign, ContactFactory(channel=line).pk)
    assert_rollup_matches(campaign)
    assert {r for r, n in recount(campaign)["failure_reasons"].items() if n} == set(FailureReason.values)


def test_bulk_created_rows_count_and_conflict_skipping_is_refused(team, line, wa):
    campaign = make_campaign(team, line, wa)
    now = timezone.now()
    rows = [
        Participant(
            team=team,
            campaign=campaign,
            source_contact_ref=-i,
            status=("success", "failure", "pending")[i % 3],
            reason="member_id_conflict" if i % 3 == 1 else "",
            first_clicked_at=now - timedelta(hours=7 * i),
            deadline_at=now,
            target_is_new=i % 2 == 0,
        )
        for i in range(12)
    ]
    Participant.objects.bulk_create(rows)
    assert_rollup_matches(campaign)
    with pytest.raises(ValueError):
        Participant.objects.bulk_create([Participant(team=team, campaign=campaign)], ignore_conflicts=True)


def test_days_are_the_teams_local_days_also_after_it_changes_its_zone(team, line, wa):
    team.time_zone = "America/Los_Angeles"
    team.save()
    campaign = make_campaign(team, line, wa)
    zone = team.zone
    late = datetime(2026, 3, 7, 23, 30, tzinfo=zone)  # 07:30 UTC the next day
    early = datetime(2026, 3, 8, 0, 30, tzinfo=zone)
    for at in (late, early):
        click(campaign, ContactFactory(channel=line).pk, now=at)
    days = {d["day"]: d["participants"] for d in services.statistics(campaign)["days"]}
    assert days == {late.date(): 1, early.date(): 1}
    assert services.statistics(campaign, late.date(), late.date())["participants"] == 1
    assert from_rollup(campaign, late.date(), early.date()) == recount(campaign, late.date(), early.date())
    # The team moves to Taipei: both clicks are on the 8th there; the first read recounts in the new zone.
    team.time_zone = "Asia/Taipei"
    team.save()
    campaign.refresh_from_db()
    click(campaign, ContactFactory(channel=line).pk, now=early + timedelta(hours=1))
    assert {d["day"]: d["participants"] for d in services.statistics(campaign)["days"]} == {early.date(): 3}
    assert from_rollup(campaign) == recount(campaign)
    assert set(DailyCount.objects.filter(campaign=campaign).values_list("zone", flat=True)) == {"Asia/Taipei"}


def test_compaction_folds_each_day_into_one_row_and_changes_no_figure(team, line, wa):
    campaign = make_campaign(team, line, wa)
    now = timezone.now()
    for i in range(6):
        outcome = click(campaign, ContactFactory(channel=line).pk, now=now - timedelta(days=i % 2))
        if i % 3 == 0:
            complete(campaign, outcome.participant, ContactFactory(channel=wa))
    before = from_rollup(campaign)
    assert DailyCount.objects.filter(campaign=campaign).count() > 2
    assert rollup.compact() > 0
    assert DailyCount.objects.filter(campaign=campaign).count() == 2
    assert from_rollup(campaign) == before == recount(campaign)
    assert rollup.compact() == 0


def test_backfill_migration_function_recounts_rows_written_past_the_services(team, other_team, line, wa):
    campaign = make_campaign(team, line, wa)
    other = make_campaign(
        other_team,
        ChannelFactory(team=other_team, kind="line", credentials={"basic_id": "@other"}),
        ChannelFactory(team=other_team, kind="whatsapp", credentials={"display_phone_number": "85291234568"}),
    )
    now = timezone.now()
    for c, n in ((campaign, 7), (other, 3)):
        for i in range(n):
            click(c, ContactFactory(channel=c.source_channel).pk, now=now - timedelta(days=i, hours=i))
    # Settled past the services (as data written before the rollup existed), and a stale rollup.
    first_three = list(Participant.objects.filter(campaign=campaign).values_list("pk", flat=True)[:3])
    Participant.objects.filter(pk__in=first_three).update(status="success", target_is_new=True, completed_at=now)
    Participant.objects.filter(campaign=campaign, status="pending").update(status="failure", reason="server_error")
    DailyCount.objects.create(team=team, campaign=campaign, zone=team.time_zone, day=now.date(), participants=99)
    assert from_rollup(campaign) != recount(campaign)
    other_before = from_rollup(other)

    migration = importlib.import_module("omnilink.migrations.0004_backfill_daily_counts")
    migration.backfill_daily_counts(apps, None)
    assert from_rollup(campaign) == recount(campaign)
    assert recount(campaign)["successes"] == 3 and recount(campaign)["failure_reasons"]["server_error"] == 4
    assert from_rollup(other) == other_before == recount(other)


def test_the_compaction_runs_every_minute():
    from django_q.models import Schedule

    from omnilink import tasks

    tasks.ensure_schedules()
    schedule = Schedule.objects.get(name="omnilink: daily counts")
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (
        "omnilink.tasks.compact_daily_counts",
        Schedule.MINUTES,
        1,
    )
    assert tasks.compact_daily_counts() == 0
