"""Analytics benchmarks (`manage.py bench analytics`): API calls, the full page, rebuild and one-day refresh.

Data: the `bench-analytics` team, 1,000,000 contacts × scale with 18 months of events ending 2026-06-30,
written with bulk SQL by analytics.benchdata (seed_demo needs most of an hour for 1M contacts on this machine),
created on the first run and reused afterwards. Each figure is printed beside a raw-SQL
reference doing the same work by hand (reference="raw_sql"); the API figures also get a `direct_count`
reference: the same numbers counted from the contact / event tables without rollups.
"""

import time
from datetime import date, timedelta

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from accounts.benchmarks import Timer, benchmark, figure
from accounts.models import Membership, Team
from accounts.services import create_api_key, create_team
from cdp.models import Channel, Contact

from . import benchdata, rollups

SLUG = "bench-analytics"
END = date(2026, 6, 30)
START = END - timedelta(days=364)


def _team(scale):
    n = int(1_000_000 * scale)
    slug = f"{SLUG}-{n}"
    team = Team.objects.filter(slug=slug).first()
    if team is None:
        team = create_team(slug=slug, name="Bench analytics", time_zone="Asia/Taipei", contact_quota=2 * n)
        started = time.perf_counter()
        benchdata.generate(team, n, END)
        print(f"bulk SQL data, {n} contacts: {time.perf_counter() - started:.0f}s", flush=True)
    return team


def _sql(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@benchmark(
    "analytics",
    requires_postgres=True,
    help="seed 000 dashboards over 1M contacts: API p50, page, rebuild, one-day refresh",
)
def analytics_bench(scale=1.0):
    team = _team(scale)
    contacts = Contact.objects.filter(team=team).count()
    channels = list(Channel.objects.filter(team=team).order_by("kind", "name", "pk").values_list("pk", flat=True))[:5]
    yield figure("contacts", contacts, "contacts", n=contacts)

    # rebuild_analytics for the team
    started = time.perf_counter()
    call_command("rebuild_analytics", team=team.slug)
    yield figure("rebuild", time.perf_counter() - started, "s", n=contacts)
    tz = team.time_zone
    started = time.perf_counter()
    _sql(
        "SELECT channel_id, (occurred_at AT TIME ZONE %s)::date, type, COUNT(*) FROM cdp_customerevent "
        "WHERE team_id = %s GROUP BY 1, 2, 3",
        [tz, team.pk],
    )
    yield figure(
        "rebuild",
        time.perf_counter() - started,
        "s",
        n=contacts,
        reference="raw_sql",
        note="one GROUP BY over all events (no state replay)",
    )

    # API calls over 365 days and 5 channels
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {create_api_key(team=team, name='bench').raw_key}")
    ids = ",".join(map(str, channels))
    urls = {
        "kpis": "/api/v1/analytics/kpis",
        "contact_overview": f"/api/v1/analytics/contact-overview?start={START}&end={END}&unit=week&channels={ids}",
        "binding_sources": "/api/v1/analytics/binding-sources?month=2026-06",
        "contact_sources": "/api/v1/analytics/contact-sources?month=2026-06",
        "valid_contacts": "/api/v1/analytics/valid-contacts",
    }
    n = max(10, int(40 * min(scale, 1.0)))
    for name, url in urls.items():
        assert api.get(url).status_code == 200
        timer = Timer()
        for _ in range(n):
            with timer:
                response = api.get(url)
            assert response.status_code == 200, response.content
        yield figure(f"api_{name}_p50", timer.median * 1000, "ms", n=n)

    # raw SQL references: the same overview sums over the rollup table, and a direct count without rollups
    ref = Timer()
    for _ in range(n):
        with ref:
            _sql(
                "SELECT channel_id, day, new_contacts, unsubscribes, bound_valid_delta FROM analytics_channelday "
                "WHERE team_id = %s AND channel_id = ANY(%s) AND day BETWEEN %s AND %s",
                [team.pk, channels, START, END],
            )
            _sql(
                "SELECT channel_id, SUM(new_contacts), SUM(bound_valid_delta) FROM analytics_channelday "
                "WHERE team_id = %s AND channel_id = ANY(%s) AND day < %s GROUP BY 1",
                [team.pk, channels, START],
            )
    yield figure("api_contact_overview_p50", ref.median * 1000, "ms", n=n, reference="raw_sql")
    direct = Timer()
    for _ in range(3):
        with direct:
            _sql(
                "SELECT channel_id, date_trunc('week', created_at AT TIME ZONE %s), COUNT(*) FROM cdp_contact "
                "WHERE team_id = %s AND channel_id = ANY(%s) GROUP BY 1, 2",
                [tz, team.pk, channels],
            )
    yield figure(
        "api_contact_overview_p50",
        direct.median * 1000,
        "ms",
        n=3,
        reference="direct_count",
        note="new contacts per week straight from the contact table (one of the four series)",
    )
    direct = Timer()
    for _ in range(3):
        with direct:
            _sql("SELECT channel_id, status, COUNT(*) FROM cdp_contact WHERE team_id = %s GROUP BY 1, 2", [team.pk])
    yield figure("api_valid_contacts_p50", direct.median * 1000, "ms", n=3, reference="direct_count")

    # the full analytics page (all five cards, 365 days, 5 channels), server side
    user, _ = get_user_model().objects.get_or_create(username="bench-analytics@example.com")
    Membership.objects.get_or_create(team=team, user=user, defaults={"role": "owner"})
    client = Client()
    client.force_login(user)
    page = f"/analytics/?start={START}&end={END}&unit=week&channels={ids}&month=2026-06"
    assert client.get(page).status_code == 200
    timer = Timer()
    for _ in range(max(5, n // 4)):
        with timer:
            response = client.get(page)
        assert response.status_code == 200
    yield figure("page_p50", timer.median * 1000, "ms", n=len(timer.samples))

    # refreshing one day's rollups (what the event consumer does for a day's batch)
    day = END - timedelta(days=3)
    timer = Timer()
    for _ in range(5):
        with timer:
            rollups.refresh_days(team, [day])
    yield figure("refresh_one_day", timer.median * 1000, "ms", n=5)
    start, end = rollups.day_bounds(team, day)
    ids_of_day = [
        row[0]
        for row in _sql(
            "SELECT id FROM cdp_customerevent WHERE team_id = %s AND occurred_at >= %s AND occurred_at < %s",
            [team.pk, start, end],
        )
    ]
    timer = Timer()
    for _ in range(3):
        with timer:
            rollups.on_events(team, ids_of_day)
    yield figure(
        "consumer_one_day_batch",
        timer.median * 1000,
        "ms",
        n=len(ids_of_day),
        note="on_customer_events with all of one day's event ids (days touched + KPI snapshot)",
    )
    ref = Timer()
    for _ in range(5):
        with ref:
            _sql(
                "SELECT channel_id, type, COUNT(*) FROM cdp_customerevent WHERE team_id = %s "
                "AND occurred_at >= %s AND occurred_at < %s GROUP BY 1, 2",
                [team.pk, start, end],
            )
    yield figure("refresh_one_day", ref.median * 1000, "ms", n=5, reference="raw_sql")
    problems = rollups.verify(team)
    yield figure("verify_problems", len(problems), "differences", n=contacts)
