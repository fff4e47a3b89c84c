"""Audience benchmarks (PostgreSQL): counts, preview page and snapshot on the seed_demo team of 1,000,000 contacts.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scdp_bench python manage.py bench audiences [--scale 0.1]

Data: the seed_demo team that customer_list and analytics use too (cdp.bench_data, slug bench-list-<n>, seed 7,
seeded on first use and kept). The audiences are on its LINE channel, the largest. For each of the five condition
shapes of issue 7, built from what seed_demo writes (its tags, the number / text / date attributes, interaction
times, the bound flag, sources), it prints the compiled query's count p50/p95 beside the hand-written SQL of the
same shape (reference="raw_sql"), then the first preview page; then the same tag shapes answered from a
denormalised tag-id array with a GIN index (reference="gin_array", measured, not adopted), the snapshot of
every reachable LINE contact, and the snapshot of 1,000,000 contacts on a copy team (see _snapshot_team).
"""

import datetime as dt
import time

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Team
from accounts.services import create_team
from cdp.bench_data import _vacuum, seed_demo_team
from cdp.models import Channel, Contact, CustomAttribute, Customer, Tag
from core.benchmarks import Timer, benchmark, figure

from . import services

# Shapes of issue 7 on seed_demo's data. Every seeded customer has 0-3 of 12 tags (each on ~9 % of customers);
# members (28 %) have total_spent (number), member_level (text) and, 70 % of them, a birthday (date).
SHAPES = {
    "two_tags_and": (
        {"op": "and", "children": [{"type": "tag", "op": "has", "match": "all", "tags": ["VIP", "回購客"]}]},
        "EXISTS (SELECT 1 FROM cdp_customertag t WHERE t.customer_id = c.customer_id AND t.tag_id = %(VIP)s) AND "
        "EXISTS (SELECT 1 FROM cdp_customertag t WHERE t.customer_id = c.customer_id AND t.tag_id = %(回購客)s)",
    ),
    "tag_or_attribute": (
        {
            "op": "or",
            "children": [
                {"type": "tag", "op": "has", "tags": ["沉睡客"]},
                {"type": "attribute", "key": "member_level", "op": "equals", "value": "金卡"},
            ],
        },
        "(EXISTS (SELECT 1 FROM cdp_customertag t WHERE t.customer_id = c.customer_id AND t.tag_id = %(沉睡客)s) OR "
        "EXISTS (SELECT 1 FROM cdp_attributevalue v WHERE v.customer_id = c.customer_id "
        "AND v.attribute_id = %(member_level)s AND v.text_value = '金卡'))",
    ),
    "recent_subscribed_not_tag": (
        {
            "op": "and",
            "children": [
                {"type": "last_customer_interaction", "op": "within_last_days", "days": 30},
                {"type": "subscribed_at", "op": "within_last_days", "days": 365},
                {"type": "tag", "op": "has_not", "tags": ["VIP"]},
            ],
        },
        "c.last_customer_interaction_at >= %(now)s - interval '30 days' AND "
        "c.subscribed_at >= %(now)s - interval '365 days' AND "
        "NOT EXISTS (SELECT 1 FROM cdp_customertag t WHERE t.customer_id = c.customer_id AND t.tag_id = %(VIP)s)",
    ),
    "attribute_range_and_bound": (
        {
            "op": "and",
            "children": [
                {"type": "attribute", "key": "total_spent", "op": "between", "value": [1000, 5000]},
                {"type": "binding", "bound": True},
            ],
        },
        "EXISTS (SELECT 1 FROM cdp_attributevalue v WHERE v.customer_id = c.customer_id "
        "AND v.attribute_id = %(total_spent)s AND v.number_value BETWEEN 1000 AND 5000) AND "
        "EXISTS (SELECT 1 FROM cdp_customer cu WHERE cu.id = c.customer_id AND cu.is_bound)",
    ),
    "nested_three_levels": (
        {
            "op": "and",
            "children": [
                {
                    "op": "or",
                    "children": [
                        {"type": "tag", "op": "has", "tags": ["VIP"]},
                        {
                            "op": "and",
                            "children": [
                                {"type": "tag", "op": "has", "tags": ["美妝"]},
                                {
                                    "type": "attribute",
                                    "key": "birthday",
                                    "op": "between",
                                    "value": ["1980-01-01", "1994-12-31"],
                                },
                            ],
                        },
                    ],
                },
                {"type": "source", "op": "in", "values": ["organic", "keyword"]},
            ],
        },
        "(EXISTS (SELECT 1 FROM cdp_customertag t WHERE t.customer_id = c.customer_id AND t.tag_id = %(VIP)s) OR "
        "(EXISTS (SELECT 1 FROM cdp_customertag t WHERE t.customer_id = c.customer_id AND t.tag_id = %(美妝)s) AND "
        "EXISTS (SELECT 1 FROM cdp_attributevalue v WHERE v.customer_id = c.customer_id "
        "AND v.attribute_id = %(birthday)s AND v.datetime_value >= '1980-01-01T00:00:00Z' "
        "AND v.datetime_value < '1995-01-01T00:00:00Z'))) AND c.source IN ('organic', 'keyword')",
    ),
}

# The tag shapes answered from a tag-id array per customer with a GIN index (None: needs more than tags).
GIN_SHAPES = {
    "two_tags_and": "s.tag_ids @> ARRAY[%(VIP)s, %(回購客)s]::bigint[]",
    "recent_subscribed_not_tag": "c.last_customer_interaction_at >= %(now)s - interval '30 days' AND "
    "c.subscribed_at >= %(now)s - interval '365 days' AND NOT (s.tag_ids @> ARRAY[%(VIP)s]::bigint[])",
}

REACHABLE = (
    "c.team_id = %(team)s AND c.channel_id = %(channel)s AND c.status <> 'blocked' AND NOT c.is_over_quota "
    "AND NOT c.unsubscribed_broadcast"
)


def _raw_count(sql, params):
    with services.planned_for_oltp(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _gin_setup(team):
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_tagset")
        cursor.execute(
            "CREATE UNLOGGED TABLE bench_tagset AS SELECT cu.id AS customer_id, "
            "COALESCE(array_agg(t.tag_id) FILTER (WHERE t.tag_id IS NOT NULL), '{}') AS tag_ids "
            "FROM cdp_customer cu LEFT JOIN cdp_customertag t ON t.customer_id = cu.id WHERE cu.team_id = %s "
            "GROUP BY cu.id",
            [team.pk],
        )
        cursor.execute("ALTER TABLE bench_tagset ADD PRIMARY KEY (customer_id)")
        cursor.execute("CREATE INDEX bench_tagset_gin ON bench_tagset USING gin (tag_ids)")
        cursor.execute("ANALYZE bench_tagset")


@benchmark(
    "audiences",
    help="audience counts, preview and snapshot on the seed_demo team of 1M contacts (PostgreSQL)",
    requires_postgres=True,
)
def audiences_bench(scale=1.0):
    runs = 15
    started = time.perf_counter()
    team = seed_demo_team(scale)
    contacts = Contact.objects.for_team(team).count()
    yield figure("data_ready", time.perf_counter() - started, "s", n=contacts, team=team.slug)
    channel = Channel.objects.get(team=team, kind="line", is_sandbox=True)
    # A fixed `now` for the whole run, so the compiled query and the hand-written SQL see the same 30 days.
    now = timezone.now()
    params = dict(Tag.objects.filter(team=team).values_list("name", "pk"))
    params.update(CustomAttribute.objects.filter(team=team).values_list("key", "pk"))
    params.update(team=team.pk, channel=channel.pk, now=now)
    for name, (tree, where) in SHAPES.items():
        ours, ref = Timer(), Timer()
        for _ in range(runs):
            with ours:
                got = services.audience(team=team, channel=channel, conditions=tree, now=now)
                with services.planned_for_oltp():
                    got = got.count()
            with ref:
                want = _raw_count(f"SELECT count(*) FROM cdp_contact c WHERE {REACHABLE} AND {where}", params)
        assert got == want, (name, got, want)
        yield figure(f"count_{name}_p50", ours.median * 1000, "ms", n=runs, matches=got)
        yield figure(f"count_{name}_p95", ours.p(95) * 1000, "ms", n=runs)
        yield figure(f"count_{name}_p50", ref.median * 1000, "ms", n=runs, reference="raw_sql")
        yield figure(f"count_{name}_ratio", ours.median / ref.median, "x", n=runs)
        page = Timer()
        for _ in range(runs):
            with page:
                rows = services.preview(team=team, channel=channel, conditions=tree)
        yield figure(f"preview50_{name}_p50", page.median * 1000, "ms", n=runs, rows=len(rows))

    # the GIN tag-array alternative, for the shapes it can answer alone
    _gin_setup(team)
    try:
        for name, where in GIN_SHAPES.items():
            gin = Timer()
            for _ in range(runs):
                with gin:
                    count = _raw_count(
                        "SELECT count(*) FROM cdp_contact c JOIN bench_tagset s ON s.customer_id = c.customer_id "
                        f"WHERE {REACHABLE} AND {where}",
                        params,
                    )
            yield figure(f"count_{name}_p50", gin.median * 1000, "ms", n=runs, reference="gin_array", matches=count)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_tagset")

    # snapshots (INSERT ... SELECT): every reachable contact of the LINE channel (the largest audience the seeded
    # data has), then every contact of the snapshot team's one channel (1,000,000 at full scale, see _snapshot_team)
    everyone = {"op": "or", "children": [{"type": "binding", "bound": True}, {"type": "binding", "bound": False}]}
    yield from _snapshot(team, channel, everyone, "snapshot")
    snap_team, snap_channel = _snapshot_team(team)
    yield from _snapshot(snap_team, snap_channel, everyone, "snapshot_all_contacts")


def _snapshot(team, channel, conditions, name):
    from .models import Broadcast

    with transaction.atomic():
        broadcast = Broadcast.objects.create(
            team=team, name="bench", channel=channel, custom_conditions=conditions, status="scheduled",
            scheduled_at=timezone.now() + dt.timedelta(minutes=10),
        )  # fmt: skip
    params = {"team": team.pk, "channel": channel.pk}
    try:
        snap = Timer()
        with snap:
            services.take_snapshot(broadcast)
        broadcast.refresh_from_db()
        size = broadcast.recipient_count
        yield figure(name, snap.median, "s", n=size, audience=size, channel_contacts=_channel_size(channel))
        yield figure(f"{name}_per_million", snap.median * 1_000_000 / max(size, 1), "s", n=size)
        # the reference: the same rows written to a table without indexes (what any INSERT ... SELECT costs)
        ref = Timer()
        with ref, services.planned_for_oltp(), connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMP TABLE bench_snap ON COMMIT DROP AS SELECT c.team_id, c.id FROM cdp_contact c "
                f"WHERE {REACHABLE} ORDER BY c.id",
                params,
            )
        yield figure(name, ref.median, "s", n=size, reference="raw_sql")
    finally:
        broadcast.delete()


SNAPSHOT_TEAM = "{slug}-snapshot"


def _snapshot_team(source):
    """A team whose one LINE channel holds a reachable copy of every contact of the seed_demo team (1,000,000 at
    full scale), each with a copy of its customer, so the snapshot is measured at the audience size of issue 7.

    Made once with two INSERT ... SELECT (a minute or two at full scale) and kept, like the seeded team; the
    seeded team itself is not touched (the customer_list and analytics benchmarks use it)."""
    slug = SNAPSHOT_TEAM.format(slug=source.slug)
    team = Team.objects.filter(slug=slug).first()
    if team is None:
        team = create_team(slug=slug, name="Bench snapshot", time_zone="Asia/Taipei", contact_quota=2 * 1_000_000)
    channel = Channel.objects.filter(team=team, kind="line").first()
    if channel is None:
        channel = Channel.objects.create(team=team, kind="line", name="LINE bench", is_sandbox=True)
    if Contact.objects.for_team(team).exists():
        return team, channel
    customer_cols = [
        f.column for f in Customer._meta.concrete_fields if f.column not in ("id", "team_id", "merged_into_id")
    ]
    contact_cols = [
        f.column
        for f in Contact._meta.concrete_fields
        if f.column not in ("id", "team_id", "channel_id", "customer_id", "external_id", "status", "is_over_quota")
        and f.column != "unsubscribed_broadcast"
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM cdp_customer")
        offset = cursor.fetchone()[0]
        cols = ", ".join(customer_cols)
        cursor.execute(
            f"INSERT INTO cdp_customer (id, team_id, {cols}) SELECT id + %s, %s, {cols} FROM cdp_customer "
            "WHERE team_id = %s AND merged_into_id IS NULL",
            [offset, team.pk, source.pk],
        )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('cdp_customer', 'id'), (SELECT max(id) FROM cdp_customer))"
        )
        cols = ", ".join(contact_cols)
        prefixed = ", ".join(f"c.{col}" for col in contact_cols)
        cursor.execute(
            f"INSERT INTO cdp_contact (team_id, channel_id, customer_id, external_id, status, is_over_quota, "
            f"unsubscribed_broadcast, {cols}) SELECT %s, %s, c.customer_id + %s, 'snap-' || c.id, 'subscribed', "
            f"false, false, {prefixed} FROM cdp_contact c JOIN cdp_customer cu ON cu.id = c.customer_id "
            "AND cu.merged_into_id IS NULL WHERE c.team_id = %s",
            [team.pk, channel.pk, offset, source.pk],
        )
    _vacuum()
    return team, channel


def _channel_size(channel):
    return Contact.objects.filter(team_id=channel.team_id, channel=channel).count()
