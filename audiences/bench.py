"""Audience benchmarks (PostgreSQL): counts, preview page and snapshot at 1,000,000 contacts.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/audiences python manage.py bench audiences [--scale 0.1]

Data is generated with bulk SQL in a team of its own ("bench-audiences") and kept between runs. For each of the
five condition shapes of issue 7 it prints the compiled query's count p50/p95 and the hand-written SQL of the
same shape (reference="raw_sql"), then the first preview page, the snapshot, and the same tag shapes answered
from a denormalised tag-id array with a GIN index (reference="gin_array", measured, not adopted).
"""

import datetime as dt
import time

from django.db import connection, transaction
from django.utils import timezone

from accounts.benchmarks import Timer, benchmark, figure

from . import services

SLUG = "bench-audiences"
TAGS = [f"t{i:02d}" for i in range(20)]  # t00 on ~30% of customers, t01 ~15%, then rarer


def _tag_share(i):
    return round(0.30 / (i + 1), 4)


def _ensure_data(n):
    from accounts.models import Team
    from accounts.services import create_team
    from cdp.models import AttributeType, Channel, Contact, CustomAttribute, Tag

    team = Team.objects.filter(slug=SLUG).first()
    if team is not None:
        channel = Channel.objects.get(team=team, kind="line")
        if Contact.objects.filter(team=team).count() == n:
            return team, channel
        with connection.cursor() as cursor:
            for table in ("cdp_attributevalue", "cdp_customertag", "cdp_contact", "cdp_customer"):
                cursor.execute(f"DELETE FROM {table} WHERE team_id = %s", [team.pk])
    else:
        team = create_team(slug=SLUG, name="Bench audiences", contact_quota=10 * n + 1000)
        channel = Channel.objects.create(team=team, kind="line", name="LINE bench", external_id="bench-line")
        for name in TAGS:
            Tag.objects.create(team=team, name=name)
        CustomAttribute.objects.create(team=team, key="spend", label="Spend", type=AttributeType.NUMBER)
        CustomAttribute.objects.create(team=team, key="city", label="City", type=AttributeType.TEXT)
    tags = dict(Tag.objects.filter(team=team).values_list("name", "pk"))
    attrs = dict(CustomAttribute.objects.filter(team=team).values_list("key", "pk"))
    t, ch = team.pk, channel.pk
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")
        cursor.execute(
            """INSERT INTO cdp_customer (team_id, member_id, phone, email, name, is_bound, first_bound_method,
                 is_member,
                 points_balance, points_accumulated, created_at, updated_at, last_checkout_at)
               SELECT %s, CASE WHEN random() < 0.3 THEN 'M' || g END, '', '', 'c' || g, random() < 0.35, '',
                 false, (random() * 500)::int, (random() * 2000)::int, now(), now(),
                 CASE WHEN random() < 0.4 THEN now() - random() * interval '200 days' END
               FROM generate_series(1, %s) g""",
            [t, n],
        )
        cursor.execute(
            """INSERT INTO cdp_contact (team_id, channel_id, customer_id, external_id, phone, business_scoped_id,
                 display_name, status, omo_staff, omo_branch, fb_recurring_optin, fb_recurring_token,
                 unsubscribed_broadcast, unsubscribed_web_push, unsubscribed_cart_remarketing, source, source_detail,
                 is_over_quota, created_at, subscribed_at, last_customer_interaction_at, last_team_interaction_at,
                 last_team_marketing_at)
               SELECT c.team_id, %s, c.id, 'U' || c.id, '', '', c.name,
                 CASE WHEN r < 0.92 THEN 'subscribed' WHEN r < 0.97 THEN 'unsubscribed' ELSE 'blocked' END,
                 '', '', false, '', random() < 0.02, false, false,
                 (ARRAY['organic','import','coupon','keyword','api_sync'])[1 + floor(random() * 5)::int], '',
                 random() < 0.02, now(), now() - random() * interval '730 days',
                 CASE WHEN random() < 0.7 THEN now() - random() * interval '120 days' END,
                 CASE WHEN random() < 0.5 THEN now() - random() * interval '120 days' END,
                 CASE WHEN random() < 0.5 THEN now() - random() * interval '120 days' END
               FROM (SELECT *, random() AS r FROM cdp_customer WHERE team_id = %s) c""",
            [ch, t],
        )
        for i, name in enumerate(TAGS):
            cursor.execute(
                """INSERT INTO cdp_customertag (team_id, customer_id, tag_id, source, applied_at)
                   SELECT team_id, id, %s, 'bench', now() FROM cdp_customer WHERE team_id = %s AND random() < %s""",
                [tags[name], t, _tag_share(i)],
            )
        cursor.execute(
            """INSERT INTO cdp_attributevalue (team_id, customer_id, attribute_id, number_value, updated_at)
               SELECT team_id, id, %s, round((random() * 10000)::numeric, 2), now()
               FROM cdp_customer WHERE team_id = %s AND random() < 0.6""",
            [attrs["spend"], t],
        )
        cursor.execute(
            """INSERT INTO cdp_attributevalue (team_id, customer_id, attribute_id, text_value, updated_at)
               SELECT team_id, id, %s, (ARRAY['Taipei','Taichung','Kaohsiung','Tainan'])[1 + floor(random()*4)::int],
                 now() FROM cdp_customer WHERE team_id = %s AND random() < 0.5""",
            [attrs["city"], t],
        )
        for table in ("cdp_customer", "cdp_contact", "cdp_customertag", "cdp_attributevalue"):
            # VACUUM as autovacuum would after a bulk load: sets the visibility map, so the covering contact
            # index is read index-only (without it every count visits the heap too).
            cursor.execute(f"VACUUM (ANALYZE) {table}")
    return team, channel


def _shapes(tags):
    a, b, c, d, e = (tags[name] for name in ("t00", "t01", "t02", "t03", "t04"))
    return {
        "two_tags_and": (
            {"op": "and", "children": [{"type": "tag", "op": "has", "match": "all", "tags": ["t00", "t01"]}]},
            f"EXISTS (SELECT 1 FROM cdp_customertag t WHERE t.customer_id = c.customer_id AND t.tag_id = {a}) AND "
            f"EXISTS (SELECT 1 FROM cdp_customertag t WHERE t.customer_id = c.customer_id AND t.tag_id = {b})",
        ),
        "tag_or_attribute": (
            {
                "op": "or",
                "children": [
                    {"type": "tag", "op": "has", "tags": ["t02"]},
                    {"type": "attribute", "key": "city", "op": "equals", "value": "Tainan"},
                ],
            },
            f"(EXISTS (SELECT 1 FROM cdp_customertag t WHERE t.customer_id = c.customer_id AND t.tag_id = {c}) OR "
            "EXISTS (SELECT 1 FROM cdp_attributevalue v WHERE v.customer_id = c.customer_id AND v.attribute_id = "
            "%(city)s AND v.text_value = 'Tainan'))",
        ),
        "recent_subscribed_not_tag": (
            {
                "op": "and",
                "children": [
                    {"type": "last_customer_interaction", "op": "within_last_days", "days": 30},
                    {"type": "subscribed_at", "op": "within_last_days", "days": 365},
                    {"type": "tag", "op": "has_not", "tags": ["t03"]},
                ],
            },
            "c.last_customer_interaction_at >= now() - interval '30 days' AND "
            "c.subscribed_at >= now() - interval '365 days' AND "
            f"NOT EXISTS (SELECT 1 FROM cdp_customertag t WHERE t.customer_id = c.customer_id AND t.tag_id = {d})",
        ),
        "attribute_range_and_bound": (
            {
                "op": "and",
                "children": [
                    {"type": "attribute", "key": "spend", "op": "between", "value": [1000, 5000]},
                    {"type": "binding", "bound": True},
                ],
            },
            "EXISTS (SELECT 1 FROM cdp_attributevalue v WHERE v.customer_id = c.customer_id AND v.attribute_id = "
            "%(spend)s AND v.number_value BETWEEN 1000 AND 5000) AND "
            "EXISTS (SELECT 1 FROM cdp_customer cu WHERE cu.id = c.customer_id AND cu.is_bound)",
        ),
        "nested_three_levels": (
            {
                "op": "and",
                "children": [
                    {
                        "op": "or",
                        "children": [
                            {"type": "tag", "op": "has", "tags": ["t00"]},
                            {
                                "op": "and",
                                "children": [
                                    {"type": "tag", "op": "has", "tags": ["t04"]},
                                    {"type": "points_balance", "op": "gte", "value": 100},
                                ],
                            },
                        ],
                    },
                    {"type": "source", "op": "in", "values": ["organic", "import"]},
                ],
            },
            f"(EXISTS (SELECT 1 FROM cdp_customertag t WHERE t.customer_id = c.customer_id AND t.tag_id = {a}) OR "
            f"(EXISTS (SELECT 1 FROM cdp_customertag t WHERE t.customer_id = c.customer_id AND t.tag_id = {e}) AND "
            "EXISTS (SELECT 1 FROM cdp_customer cu WHERE cu.id = c.customer_id AND cu.points_balance >= 100))) AND "
            "c.source IN ('organic', 'import')",
        ),
    }


def _raw_count(team, channel, where, attrs):
    sql = (
        "SELECT count(*) FROM cdp_contact c WHERE c.team_id = %s AND c.channel_id = %s AND c.status = 'subscribed' "
        "AND NOT c.is_over_quota AND NOT c.unsubscribed_broadcast AND " + (where % attrs)
    )
    with services.planned_for_oltp(), connection.cursor() as cursor:
        cursor.execute(sql, [team.pk, channel.pk])
        return cursor.fetchone()[0]


GIN_SHAPES = {
    "two_tags_and": "s.tag_ids @> ARRAY[%(a)s, %(b)s]::bigint[]",
    "tag_or_attribute": None,
    "recent_subscribed_not_tag": "c.last_customer_interaction_at >= now() - interval '30 days' AND "
    "c.subscribed_at >= now() - interval '365 days' AND NOT (s.tag_ids @> ARRAY[%(d)s]::bigint[])",
    "nested_three_levels": None,
}


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
    "audiences", help="audience counts, preview and snapshot at 1M contacts (PostgreSQL)", requires_postgres=True
)
def audiences_bench(scale=1.0):
    from cdp.models import CustomAttribute, Tag

    from .models import Broadcast

    n = max(1000, int(1_000_000 * scale))
    runs = 15
    started = time.perf_counter()
    team, channel = _ensure_data(n)
    yield figure("data_ready", time.perf_counter() - started, "s", n=n)
    tags = dict(Tag.objects.filter(team=team).values_list("name", "pk"))
    attrs = dict(CustomAttribute.objects.filter(team=team).values_list("key", "pk"))
    for name, (tree, where) in _shapes(tags).items():
        ours, ref = Timer(), Timer()
        for _ in range(runs):
            with ours:
                got = services.count_audience(team=team, channel=channel, conditions=tree)
            with ref:
                want = _raw_count(team, channel, where, attrs)
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
    ids = {"a": tags["t00"], "b": tags["t01"], "d": tags["t03"]}
    for name, where in GIN_SHAPES.items():
        if not where:
            continue
        gin = Timer()
        for _ in range(runs):
            with gin, services.planned_for_oltp(), connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM cdp_contact c JOIN bench_tagset s ON s.customer_id = c.customer_id "
                    "WHERE c.team_id = %s AND c.channel_id = %s AND c.status = 'subscribed' AND NOT c.is_over_quota "
                    "AND NOT c.unsubscribed_broadcast AND " + where % ids,
                    [team.pk, channel.pk],
                )
                cursor.fetchone()
        yield figure(f"count_{name}_p50", gin.median * 1000, "ms", n=runs, reference="gin_array")
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_tagset")

    # snapshot of (nearly) the whole channel: INSERT ... SELECT
    everyone = {"op": "or", "children": [{"type": "binding", "bound": True}, {"type": "binding", "bound": False}]}
    with transaction.atomic():
        broadcast = Broadcast.objects.create(
            team=team, name="bench", channel=channel, custom_conditions=everyone, status="scheduled",
            scheduled_at=timezone.now() + dt.timedelta(minutes=10),
        )  # fmt: skip
    snap = Timer()
    with snap:
        services.take_snapshot(broadcast)
    broadcast.refresh_from_db()
    yield figure("snapshot", snap.median, "s", n=broadcast.recipient_count)
    ref = Timer()
    with ref, services.planned_for_oltp(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE bench_snap ON COMMIT DROP AS SELECT c.team_id, c.id FROM cdp_contact c "
            "WHERE c.team_id = %s AND c.channel_id = %s AND c.status = 'subscribed' AND NOT c.is_over_quota "
            "AND NOT c.unsubscribed_broadcast",
            [team.pk, channel.pk],
        )
    yield figure("snapshot", ref.median, "s", n=broadcast.recipient_count, reference="raw_sql")
    broadcast.delete()
