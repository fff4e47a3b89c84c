"""OmniLink benchmarks: the first-click redirect (in-process and sequential; and through gunicorn at 150 requests/s,
open loop), webhook processing with OmniLink's hook vs without (alternating pairs), and the statistics /
participant list of a campaign with 1,000,000 participants. Raw-SQL references beside.

omnilink_stats writes its participants with one INSERT ... SELECT (past the services), rebuilds the daily rollup
from them (the backfill's function, timed), and leaves a minute of uncompacted delta rows (9,000: 150 clicks/s) in
it, as the statistics meet them between two compactions."""

import os
import statistics
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.test import Client, override_settings
from django.utils import timezone

from accounts.models import Team
from cdp.models import Channel, Contact, Customer
from core.benchmarks import Timer, analyze_if_no_autovacuum, benchmark, figure, open_loop
from messaging.models import WebhookEvent
from messaging.services.processing import drain

from . import links, matching, rollup, services
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


@benchmark(
    "omnilink_click_gunicorn",
    help="first clicks at 150 requests/s through gunicorn (gthread, 2 workers): p50 / p95 / p99, achieved rate",
    requires_postgres=True,
)
def omnilink_click_gunicorn(scale=1.0):
    """Starts the web server as production runs it (`gunicorn config.wsgi -w 2 --worker-class gthread --threads 4`,
    DEBUG=0) on a free loopback port against this database, then opens a distinct participant's link (a real first
    click: the participant, its rollup delta, the redirect to wa.me) 150 times a second for 20 s × scale, open loop,
    on a fresh connection each as a customer's phone would. Beside it: the click's two INSERTs by hand, at the same
    rate from the same scheduler over persistent connections. The load generator shares the two cores with gunicorn
    and PostgreSQL."""
    import urllib3

    from messaging.bench import GUNICORN_WORKERS, _free_port, _start_gunicorn, _stop

    seconds = max(1.0, 20 * scale)
    n = int(CLICK_RATE * seconds)
    warm = CLICK_RATE  # one second of clicks: both workers' imports, connections and caches
    team, line, wa, campaign, ids = _setup("bench-omnilink-gunicorn", warm + n)
    paths = [f"/ol/{links.make_token(campaign.pk, contact_id)}" for contact_id in ids]
    load = round(os.getloadavg()[0], 2)
    args = dict(GUNICORN_WORKERS)["gthread"]  # as the README's production section runs it
    port = _free_port()
    server = _start_gunicorn(port, workers=2, args=args)
    try:
        http = urllib3.HTTPConnectionPool(
            "127.0.0.1", port, maxsize=CLICK_THREADS, block=False, retries=False, timeout=urllib3.Timeout(30)
        )
        headers = {**MOBILE, "Connection": "close"}

        def get(path):
            response = http.request("GET", path, headers=headers, redirect=False)
            return response.status, response.headers.get("Location", "")

        _check_redirects(open_loop(get, paths[:warm], CLICK_RATE, CLICK_THREADS).results)
        run = open_loop(get, paths[warm:], CLICK_RATE, CLICK_THREADS)
    finally:
        _stop(server)
    _check_redirects(run.results)
    made = Participant.objects.filter(campaign=campaign, source_contact_ref__gt=0).count()
    assert made == warm + n, f"{made} participants for {warm + n} first clicks"
    shape = {"workers": "gthread -w 2 --threads 4", "load_1m": load}
    for q in (50, 95, 99):
        yield figure(f"first_click_p{q}_at_150rps", run.timer.p(q) * 1000, "ms", n=n, **shape)
    yield figure(
        "achieved_rate",
        run.completed_per_s,
        "requests/s",
        n=n,
        sent_per_s=round(run.sent_per_s, 1),
        max_start_lag_ms=round(run.max_start_lag * 1000, 1),
    )
    ref = _raw_clicks_at_rate(team, campaign, ids, warm)
    for q in (50, 95, 99):
        yield figure(f"first_click_p{q}_at_150rps", ref.timer.p(q) * 1000, "ms", n=n, reference="raw_sql")
    yield figure("achieved_rate", ref.completed_per_s, "requests/s", n=n, reference="raw_sql")


CLICK_RATE = 150  # requests/s (the target rate)
CLICK_THREADS = 64  # the load generator's in-flight requests at most; a call waiting for a thread counts its wait


def _check_redirects(results):
    """Every click answered with the redirect to the target channel (a 200 page or an error would be faster)."""
    bad = [r for r in results if not (isinstance(r, tuple) and r[0] == 302 and r[1].startswith("https://wa.me/"))]
    assert not bad, f"{len(bad)} of {len(results)} clicks not redirected to wa.me, e.g. {bad[0]!r}"


def _raw_clicks_at_rate(team, campaign, ids, warm):
    """The participant INSERT and its rollup delta INSERT in one transaction per click, by hand (psycopg, one
    persistent connection per thread, as gunicorn keeps its connections), driven by the same open-loop scheduler
    at the same rate. Participants get the negative contact id as their ref, beside the app's clicks."""
    import threading

    import psycopg

    db = settings.DATABASES["default"]
    params = {"dbname": db["NAME"], "user": db["USER"], "password": db["PASSWORD"], "host": db["HOST"]}
    params["port"] = db["PORT"]
    params = {key: value for key, value in params.items() if value}
    local, opened, lock = threading.local(), [], threading.Lock()
    columns = ", ".join(rollup.FIELDS)
    values = ", ".join("1" if column in ("participants", "pending") else "0" for column in rollup.FIELDS)

    def insert(item):
        contact_id, code = item
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = psycopg.connect(**params)
            with lock:
                opened.append(conn)
        with conn.transaction(), conn.cursor() as cursor:
            cursor.execute(
                "INSERT INTO omnilink_participant (team_id, campaign_id, source_contact_ref, source_contact_id,"
                " status, reason, code, first_clicked_at, deadline_at, target_is_new, error_ref)"
                " VALUES (%s, %s, %s, %s, 'pending', '', %s, now(), now() + interval '24 hours', false, '')"
                " ON CONFLICT DO NOTHING",
                [team.pk, campaign.pk, -contact_id, contact_id, code],
            )
            cursor.execute(
                f"INSERT INTO {DailyCount._meta.db_table} (team_id, campaign_id, zone, day, {columns})"
                f" VALUES (%s, %s, %s, current_date, {values})",
                [team.pk, campaign.pk, team.time_zone],
            )

    items = [(contact_id, links.new_code()) for contact_id in ids]
    try:
        open_loop(insert, items[:warm], CLICK_RATE, CLICK_THREADS)
        run = open_loop(insert, items[warm:], CLICK_RATE, CLICK_THREADS)
    finally:
        for conn in opened:
            conn.close()
    failed = [r for r in run.results if r is not None]
    assert not failed, f"{len(failed)} raw clicks failed, e.g. {failed[0]!r}"
    return run


@benchmark(
    "omnilink_webhook",
    help="LINE text events drained with OmniLink's hook vs without: 5 alternating pairs, medians and median ratio",
)
def omnilink_webhook(scale=1.0):
    """One warm-up drain, then WEBHOOK_PAIRS pairs of drains of the same number of fresh ordinary text events (no
    code in them: what every message pays), one with the hook installed and one without, the order alternating from
    pair to pair so that a drift of the machine or the tables does not favour one side. Each pair's ratio compares
    two runs seconds apart; the median of the ratios is the figure, with their spread beside it. Process CPU time
    is compared the same way: the hook runs in this process, and other processes' load moves CPU time less than
    wall time. The hook is the only difference between the sides (processing calls it once per text), so the
    "with" runs also time every call of it (timed_on_inbound, its timer included: a bound from above) as a share
    of their own drain time, a figure that other load scales on both sides of the fraction."""
    n = max(50, int(5000 * scale))
    team, line, wa, campaign, ids = _setup("bench-omnilink-webhook", 10)
    on = ["omnilink.bench.timed_on_inbound"]
    load = round(os.getloadavg()[0], 2)

    def run(hooks):
        WebhookEvent.objects.filter(team=team).delete()
        now = timezone.now()
        WebhookEvent.objects.bulk_create(_text_events(team, line, n, now), batch_size=2000)
        analyze_if_no_autovacuum(WebhookEvent._meta.db_table)
        _hook_time.update(seconds=0.0, calls=0)
        with override_settings(MESSAGING_INBOUND_HOOKS=hooks):
            wall, cpu = time.perf_counter(), time.process_time()
            handled = drain(team_id=team.pk, batch_size=500)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert handled == n, f"drained {handled} of {n} events"
        assert _hook_time["calls"] == (n if hooks else 0), f"the hook ran {_hook_time['calls']} times for {n} texts"
        return wall, cpu, _hook_time["seconds"]

    run(on)  # warm-up: creates the 500 contacts, fills caches
    runs = {"with": [], "without": []}
    for pair in range(WEBHOOK_PAIRS):
        order = ("with", "without") if pair % 2 == 0 else ("without", "with")
        for side in order:
            runs[side].append(run(on if side == "with" else []))
    rates = {side: [n / wall for wall, _, _ in measured] for side, measured in runs.items()}
    ratios = [w / wo for w, wo in zip(rates["with"], rates["without"], strict=True)]
    cpu_ratios = [w[1] / wo[1] for w, wo in zip(runs["with"], runs["without"], strict=True)]
    spread = {"pairs": WEBHOOK_PAIRS, "load_1m": load}

    def listed(values, digits=3):
        return [round(v, digits) for v in values]

    yield figure(
        "processed_events_per_s",
        statistics.median(rates["with"]),
        "events/s",
        n=n,
        omnilink="enabled",
        runs=listed(rates["with"], 1),
        **spread,
    )
    yield figure(
        "processed_events_per_s",
        statistics.median(rates["without"]),
        "events/s",
        n=n,
        omnilink="not installed",
        reference="no_hook",
        runs=listed(rates["without"], 1),
        **spread,
    )
    # Positive: slower with the hook. From the median of the pairs' (with / without) rate ratios.
    yield figure("overhead_percent", (1 - statistics.median(ratios)) * 100, "%", n=n, ratios=listed(ratios), **spread)
    yield figure(
        "cpu_overhead_percent",
        (statistics.median(cpu_ratios) - 1) * 100,
        "%",
        n=n,
        cpu_ratios=listed(cpu_ratios),
        **spread,
    )
    hook_seconds = sum(hook for _, _, hook in runs["with"])
    with_seconds = sum(wall for wall, _, _ in runs["with"])
    yield figure(
        "hook_time_percent",
        hook_seconds / with_seconds * 100,
        "%",
        n=n * WEBHOOK_PAIRS,
        hook_us_per_event=round(hook_seconds / (n * WEBHOOK_PAIRS) * 1e6, 2),
        **spread,
    )
    WebhookEvent.objects.filter(team=team).delete()


WEBHOOK_PAIRS = 5
_hook_time = {"seconds": 0.0, "calls": 0}


def timed_on_inbound(**kwargs):
    """OmniLink's inbound hook with a stopwatch around it (the webhook benchmark installs this one)."""
    start = time.perf_counter()
    try:
        return matching.on_inbound(**kwargs)
    finally:
        _hook_time["seconds"] += time.perf_counter() - start
        _hook_time["calls"] += 1


def _text_events(team, line, n, now):
    """`n` fresh ordinary LINE texts from 500 users (new dedup keys each run, so every run does the same work)."""
    return [
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
