"""OmniLink benchmarks: the first-click redirect, webhook processing with OmniLink's hook vs without, and the
statistics / participant list of a campaign with 1,000,000 participants. In-process, raw-SQL references beside.

omnilink_stats writes its participants with one INSERT ... SELECT (past the services), rebuilds the daily rollup
from them (the backfill's function, timed), and leaves a minute of uncompacted delta rows (9,000: 150 clicks/s) in
it, as the statistics meet them between two compactions."""

import time
import uuid
from datetime import timedelta

from django.db import connection, transaction
from django.test import Client, override_settings
from django.utils import timezone

from accounts.models import Team
from cdp.models import Channel, Contact, Customer
from core.benchmarks import Timer, analyze_if_no_autovacuum, benchmark, figure
from messaging.models import WebhookEvent
from messaging.services.processing import drain

from . import links, rollup, services
from .models import Campaign, DailyCount, Participant

MOBILE = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"}
CARD = {"image_url": "https://cdn.example.com/c.png", "title": "t", "text": "", "button_label": "go"}


def _setup(slug, contacts):
    team = Team.objects.filter(slug=slug).first() or Team.objects.create(slug=slug, name=slug)
    Campaign.objects.filter(team=team).delete()
    line = Channel.objects.filter(team=team, kind="line").first() or Channel.objects.create(
        team=team, kind="line", name="bench", credentials={"basic_id": "@bench", "channel_secret": "s"}
    )
    wa = Channel.objects.filter(team=team, kind="whatsapp").first() or Channel.objects.create(
        team=team,
        kind="whatsapp",
        name="bench",
        external_id=f"wa-{slug}",
        credentials={"display_phone_number": "85291234567"},
    )
    campaign = services.save_campaign(
        team=team, name="bench", source_channel=line, target_channel=wa, card=CARD, integration_message="bind"
    )
    have = Contact.objects.filter(team=team, channel=line).count()
    if have < contacts:
        customers = Customer.objects.bulk_create([Customer(team=team) for _ in range(contacts - have)], batch_size=5000)
        Contact.objects.bulk_create(
            [Contact(team=team, channel=line, customer=c, external_id=f"U{c.pk:032x}") for c in customers],
            batch_size=5000,
        )
    ids = list(Contact.objects.filter(team=team, channel=line).order_by("id").values_list("id", flat=True)[:contacts])
    return team, line, wa, campaign, ids


@benchmark("omnilink_click", help="first clicks on OmniLink links (participant + redirect): p50 / p99")
def omnilink_click(scale=1.0):
    n = max(200, int(2000 * scale))
    team, line, wa, campaign, ids = _setup("bench-omnilink-click", n)
    client = Client()
    timer = Timer()
    for contact_id in ids:
        path = f"/ol/{links.make_token(campaign.pk, contact_id)}"
        with timer.time():
            response = client.get(path, headers=MOBILE)
        assert response.status_code == 302
    yield figure("first_click_p50", timer.p(50) * 1000, "ms", n=n)
    yield figure("first_click_p99", timer.p(99) * 1000, "ms", n=n)
    ref = Timer()
    columns = ", ".join(rollup.FIELDS)
    values = ", ".join("1" if column in ("participants", "pending") else "0" for column in rollup.FIELDS)
    with connection.cursor() as cursor:
        for contact_id in ids:
            with ref.time(), transaction.atomic():  # the participant and its rollup delta row, as a click writes
                cursor.execute(
                    "INSERT INTO omnilink_participant (team_id, campaign_id, source_contact_ref, source_contact_id,"
                    " status, reason, code, first_clicked_at, deadline_at, target_is_new, error_ref)"
                    " VALUES (%s, %s, %s, %s, 'pending', '', %s, now(), now(), false, '')"
                    " ON CONFLICT DO NOTHING",
                    [team.pk, campaign.pk, -contact_id, contact_id, links.new_code()],
                )
                cursor.execute(
                    f"INSERT INTO {DailyCount._meta.db_table} (team_id, campaign_id, zone, day, {columns})"
                    f" VALUES (%s, %s, %s, current_date, {values})",
                    [team.pk, campaign.pk, team.time_zone],
                )
    yield figure("first_click_p99", ref.p(99) * 1000, "ms", n=n, reference="raw_sql")


@benchmark("omnilink_webhook", help="draining LINE text events with OmniLink's hook installed vs not (overhead)")
def omnilink_webhook(scale=1.0):
    n = max(500, int(5000 * scale))
    team, line, wa, campaign, ids = _setup("bench-omnilink-webhook", 10)
    rates = {}
    ON = ["omnilink.matching.on_inbound"]  # noqa: N806
    passes = [("warm-up", []), ("with", ON), ("without", []), ("with2", ON), ("without2", [])]
    for label, hooks in passes:
        WebhookEvent.objects.filter(team=team).delete()
        now = timezone.now()
        rows = [
            WebhookEvent(
                team=team,
                channel=line,
                dedup_key=f"line:{uuid.uuid4().hex}",
                kind="message",
                user_key=f"U{(i % 500):032x}",
                occurred_at=now,
                payload={
                    "type": "message",
                    "timestamp": int(now.timestamp() * 1000),
                    "source": {"type": "user", "userId": f"U{(i % 500):032x}"},
                    "message": {"type": "text", "id": str(i), "text": f"請問營業時間 {i}"},
                },
            )
            for i in range(n)
        ]
        WebhookEvent.objects.bulk_create(rows, batch_size=2000)
        with override_settings(MESSAGING_INBOUND_HOOKS=hooks):
            start = time.perf_counter()
            drain(team_id=team.pk, batch_size=500)
            rates[label] = n / (time.perf_counter() - start)
    with_hook = max(rates["with"], rates["with2"])
    without = max(rates["without"], rates["without2"])
    yield figure("processed_events_per_s", with_hook, "events/s", n=n, omnilink="enabled")
    yield figure("processed_events_per_s", without, "events/s", n=n, omnilink="not installed", reference="raw_sql")
    yield figure("overhead_percent", (without - with_hook) / without * 100, "%", n=n)


@benchmark("omnilink_stats", help="statistics and participant lists of a campaign with 1,000,000 participants")
def omnilink_stats(scale=1.0):
    n = max(10_000, int(1_000_000 * scale))
    team, line, wa, campaign, ids = _setup("bench-omnilink-stats", 1)
    source = ids[0]
    start = timezone.now() - timedelta(days=89)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO omnilink_participant (team_id, campaign_id, source_contact_ref, source_contact_id, status,"
                " reason, code, first_clicked_at, deadline_at, completed_at, target_is_new, error_ref)"
                " SELECT %s, %s, -g, %s, CASE WHEN g %% 10 < 6 THEN 'success' WHEN g %% 10 < 9 THEN 'failure'"
                " ELSE 'pending' END, CASE WHEN g %% 10 BETWEEN 6 AND 8 THEN 'not_completed' ELSE '' END, '',"
                " %s + (g * interval '7 second'), %s + (g * interval '7 second') + interval '1 day', NULL,"
                " g %% 3 = 0, '' FROM generate_series(1, %s) g",
                [team.pk, campaign.pk, source, start, start, n],
            )
    else:
        Participant.objects.bulk_create(
            [
                Participant(
                    team=team,
                    campaign=campaign,
                    source_contact_ref=-g,
                    source_contact_id=source,
                    status=("success", "failure", "pending")[g % 3],
                    first_clicked_at=start + timedelta(seconds=7 * g),
                    deadline_at=start,
                    target_is_new=g % 2 == 0,
                )
                for g in range(1, n + 1)
            ],
            batch_size=5000,
        )
    analyze_if_no_autovacuum("omnilink_participant")
    began = time.perf_counter()
    rollup.rebuild(campaign_ids=[campaign.pk])
    yield figure("rollup_rebuild", time.perf_counter() - began, "s", n=n)
    # A minute of traffic not yet compacted: 9,000 delta rows on the last day that add up to nothing.
    last_day = timezone.localtime(start + timedelta(seconds=7 * n), team.zone).date()
    DailyCount.objects.bulk_create(
        [
            DailyCount(team=team, campaign=campaign, zone=team.time_zone, day=last_day, participants=sign, pending=sign)
            for sign in (1, -1) * 4500
        ],
        batch_size=5000,
    )
    analyze_if_no_autovacuum(DailyCount._meta.db_table)
    first = timezone.localtime(start, team.zone).date()
    last = first + timedelta(days=89)
    for label, rng in (("all_time", (None, None)), ("90_days", (first, last))):
        timer = Timer()
        for _ in range(5):
            with timer.time():
                stats = services.statistics(campaign, *rng)
        yield figure(f"statistics_{label}", timer.median * 1000, "ms", n=stats["participants"])
        timer = Timer()
        for status in ("success", "failure", "pending", "success", "failure"):
            with timer.time():
                list(services.participant_list(campaign, status, *rng)[:50])
        yield figure(f"participants_page_{label}", timer.median * 1000, "ms", n=n)
    sums = ", ".join(f"sum({column})" for column in rollup.FIELDS)
    references = {
        # The same work: the campaign's rollup rows summed by day.
        "statistics_all_time": (
            f"SELECT day, {sums} FROM {DailyCount._meta.db_table} WHERE team_id = %s AND campaign_id = %s GROUP BY day",
            [team.pk, campaign.pk],
        ),
        # What the statistics cost before the rollup: one GROUP BY over the campaign's participants.
        "statistics_all_time_from_participants": (
            "SELECT status, reason, count(*), count(*) FILTER (WHERE target_is_new) FROM omnilink_participant"
            " WHERE team_id = %s AND campaign_id = %s GROUP BY status, reason",
            [team.pk, campaign.pk],
        ),
        "participants_page_all_time": (
            "SELECT * FROM omnilink_participant WHERE team_id = %s AND campaign_id = %s AND status = 'failure'"
            " ORDER BY first_clicked_at DESC, id DESC LIMIT 50",
            [team.pk, campaign.pk],
        ),
    }
    with connection.cursor() as cursor:
        for name, (sql, params) in references.items():
            ref = Timer()
            for _ in range(5):
                with ref.time():
                    cursor.execute(sql, params)
                    cursor.fetchall()
            yield figure(name, ref.median * 1000, "ms", n=n, reference="raw_sql")
    if connection.vendor == "postgresql":
        plan = services.participant_list(campaign, "failure", first, last)[:50].explain()
        yield figure("participants_page_uses_status_time_index", int("omnilink_part_status_time" in plan), "bool")
    Participant.objects.filter(campaign=campaign).delete()
    DailyCount.objects.filter(campaign=campaign).delete()
