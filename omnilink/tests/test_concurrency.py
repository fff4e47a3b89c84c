"""Two taps at once on the same card make one participant, and the statistics' rollup stays exact under concurrent
taps, compaction and the timeout sweep racing codes being matched (PostgreSQL, real threads and connections)."""

import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from cdp.tests.factories import ChannelFactory, ContactFactory
from omnilink import links, rollup, services
from omnilink.models import DailyCount, Participant
from tests.factories import TeamFactory

from .helpers import make_campaign

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL and real concurrency"),
]


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_clicks_make_one_participant():
    team = TeamFactory()
    line = ChannelFactory(team=team, kind="line", credentials={"basic_id": "@brand"})
    wa = ChannelFactory(team=team, kind="whatsapp", credentials={"display_phone_number": "85291234567"})
    campaign = make_campaign(team, line, wa)
    contact = ContactFactory(channel=line)
    token = links.make_token(campaign.pk, contact.pk)
    barrier = threading.Barrier(4)
    outcomes, errors = [], []

    def tap():
        try:
            barrier.wait()
            outcomes.append(services.click(token))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=tap) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert Participant.objects.count() == 1
    assert {o.url for o in outcomes} == {outcomes[0].url} and outcomes[0].state == "pending"


def _run_together(*jobs):
    """Start every job at once on its own connection; returns the results, raises the first error."""
    barrier = threading.Barrier(len(jobs))
    results, errors = [None] * len(jobs), []

    def run(i, job):
        try:
            barrier.wait()
            results[i] = job()
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results


def _campaign(**kw):
    team = TeamFactory()
    line = ChannelFactory(team=team, kind="line", credentials={"basic_id": "@brand"})
    wa = ChannelFactory(team=team, kind="whatsapp", credentials={"display_phone_number": "85291234567"})
    return make_campaign(team, line, wa, **kw)


@pytest.mark.django_db(transaction=True)
def test_concurrent_taps_and_compaction_keep_the_rollup_exact():
    from .test_rollup import from_rollup, recount

    campaign = _campaign()
    tokens = [links.make_token(campaign.pk, ContactFactory(channel=campaign.source_channel).pk) for _ in range(4)]
    # Every link tapped three times at once, while the per-minute compaction runs.
    jobs = [lambda t=token: services.click(t) for token in tokens for _ in range(3)]
    _run_together(*jobs, rollup.compact, rollup.compact)
    assert Participant.objects.count() == 4
    assert from_rollup(campaign) == recount(campaign)
    rollup.compact()
    assert DailyCount.objects.filter(campaign=campaign).count() == 1
    assert from_rollup(campaign)["pending"] == 4


@pytest.mark.django_db(transaction=True)
def test_the_sweep_racing_codes_being_matched_counts_each_participant_once():
    """Codes arriving (each in a webhook batch's transaction, holding the row) while two sweeps run: each
    participant ends a success or not_completed, never both, and the rollup equals the recount."""
    from .test_rollup import from_rollup, recount

    campaign = _campaign(completion_hours=1)
    clicked = timezone.now() - timedelta(hours=2)  # every window is over: the sweep wants them all
    outcomes = [
        services.click(links.make_token(campaign.pk, ContactFactory(channel=campaign.source_channel).pk), now=clicked)
        for _ in range(12)
    ]

    def match(outcome):
        def job():
            with transaction.atomic():
                target = ContactFactory(channel=campaign.target_channel)
                done = services.complete(
                    channel=campaign.target_channel,
                    contact=target,
                    code=outcome.participant.code,
                    at=clicked + timedelta(minutes=1),
                )
                time.sleep(0.05)  # hold the row as a batch does
                return done

        return job

    def sweep():
        return services.sweep_timeouts(batch_size=3)

    swept = _run_together(*(match(o) for o in outcomes[:6]), sweep, sweep)[-2:]
    swept_later = services.sweep_timeouts()
    stats = recount(campaign)
    assert stats["pending"] == 0 and stats["participants"] == 12
    assert stats["failure_reasons"]["not_completed"] == sum(swept) + swept_later == stats["failures"]
    assert stats["successes"] + stats["failures"] == 12
    assert from_rollup(campaign) == stats
