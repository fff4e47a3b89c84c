"""Analytics benchmarks (`manage.py bench analytics`): API calls, the full page, rebuild and one-day refresh.

Data: the seed_demo team that customer_list and audiences use too (cdp.bench_data: slug bench-list-<n>, seed 7,
1,000,000 contacts × scale with 18 months of events), seeded on first use and kept. The 365-day range ends on the
last day with contacts created. Each figure is printed beside a raw-SQL reference doing the same work by hand
(reference="raw_sql"); the API figures also get a `direct_count` reference: the same numbers counted from the
contact / event tables without rollups.
"""

import time
from datetime import date, timedelta

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import Membership
from accounts.services import create_api_key
from cdp.bench_data import seed_demo_team
from cdp.models import Channel, Contact, CustomerEvent, EventType
from core.benchmarks import Timer, benchmark, figure

from . import rollups


def _last_day(team):
    """The team-local day of the newest contact_created event: seed_demo's 18 months end on the day it ran."""
    last = (
        CustomerEvent.objects.filter(team=team, type=EventType.CONTACT_CREATED)
        .order_by("-occurred_at")
        .values_list("occurred_at", flat=True)
        .first()
    )
    return last.astimezone(team.zone).date() if last else date.today()


def _sql(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@benchmark(
    "analytics",
    requires_postgres=True,
    help="dashboards over the seed_demo team of 1M contacts: API p50, page, rebuild, one-day refresh",
)
def analytics_bench(scale=1.0):
    team = seed_demo_team(scale)
    contacts = Contact.objects.filter(team=team).count()
    end_day = _last_day(team)
    start_day = end_day - timedelta(days=364)
    month = f"{end_day:%Y-%m}"
    channels = list(Channel.objects.filter(team=team).order_by("kind", "name", "pk").values_list("pk", flat=True))[:5]
    yield figure("contacts", contacts, "contacts", n=contacts, team=team.slug, start=str(start_day), end=str(end_day))

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
        "contact_overview": (
            f"/api/v1/analytics/contact-overview?start={start_day}&end={end_day}&unit=week&channels={ids}"
        ),
        "binding_sources": f"/api/v1/analytics/binding-sources?month={month}",
        "contact_sources": f"/api/v1/analytics/contact-sources?month={month}",
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
                [team.pk, channels, start_day, end_day],
            )
            _sql(
                "SELECT channel_id, SUM(new_contacts), SUM(bound_valid_delta) FROM analytics_channelday "
                "WHERE team_id = %s AND channel_id = ANY(%s) AND day < %s GROUP BY 1",
                [team.pk, channels, start_day],
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
    page = f"/analytics/?start={start_day}&end={end_day}&unit=week&channels={ids}&month={month}"
    assert client.get(page).status_code == 200
    timer = Timer()
    for _ in range(max(5, n // 4)):
        with timer:
            response = client.get(page)
        assert response.status_code == 200
    yield figure("page_p50", timer.median * 1000, "ms", n=len(timer.samples))

    # refreshing one day's rollups (what the event consumer does for a day's batch)
    day = end_day - timedelta(days=3)
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


from . import bench_scaling  # noqa: E402, F401 - registers `bench scaling`
