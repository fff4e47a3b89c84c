"""Benchmark data written with bulk SQL (PostgreSQL): N contacts over 18 months with their timeline events.

seed_demo (cdp) writes the same kind of team through the ORM; at 1,000,000 contacts it needs most of an hour
on the shared 2-core machine, so the analytics benchmark fills its team with generate_series instead (about a
minute). Shape: one customer per contact; channels weighted like seed_demo's; joins rising over 18 months;
16 % of contacts block (a third of them follow again), 3 % unsubscribe from broadcasts, 20 % bind (7 methods),
27 % of customers register as members, plus ~60 % tag_added and ~20 % checkout events as unrelated timeline
noise, so the event table has the size the rollup queries really see.
"""

from datetime import datetime, time, timedelta

from django.db import connection, transaction

from cdp.models import BindingMethod, Channel, ChannelKind, ContactSource

CHANNELS = [
    (ChannelKind.LINE, "LINE 官方帳號"),
    (ChannelKind.FACEBOOK, "Facebook 粉絲專頁"),
    (ChannelKind.INSTAGRAM, "Instagram 品牌帳號"),
    (ChannelKind.WHATSAPP, "WhatsApp 客服專線"),
    (ChannelKind.WECHAT, "WeChat 服務號"),
    (ChannelKind.WEB, "官網訪客"),
]


def _array(values):
    return "ARRAY[" + ", ".join(f"'{v}'" for v in values) + "]"


@transaction.atomic
def generate(team, n, end_day, days=548):
    channels = [Channel.objects.create(team=team, kind=kind, name=name) for kind, name in CHANNELS]
    end = datetime.combine(end_day, time(15, 59), tzinfo=team.zone)
    start = end - timedelta(days=days)
    sources = _array(ContactSource.values)
    methods = _array(BindingMethod.values)
    ch = "ARRAY[" + ", ".join(str(c.pk) for c in channels) + "]::bigint[]"
    p = {"team": team.pk, "n": n, "start": start, "end": end, "span": days * 86400}
    with connection.cursor() as cursor:

        def run(sql):
            cursor.execute(sql, p)

        run(
            f"""
            CREATE TEMP TABLE bench_g ON COMMIT DROP AS
            SELECT i,
                   ({ch})[1 + CASE WHEN i %% 100 < 44 THEN 0 WHEN i %% 100 < 62 THEN 1 WHEN i %% 100 < 76 THEN 2
                                   WHEN i %% 100 < 91 THEN 3 WHEN i %% 100 < 94 THEN 4 ELSE 5 END] AS channel_id,
                   %(end)s::timestamptz - make_interval(
                       secs => %(span)s * (1 - sqrt(((i::bigint * 7919) %% 100003) / 100003.0))) AS created_at,
                   ({sources})[1 + (i * 31) %% 20] AS source,
                   ({methods})[1 + i %% 7] AS method,
                   (i * 13) %% 100 AS r1, (i * 17) %% 100 AS r2, (i * 29) %% 100 AS r3
            FROM generate_series(1, %(n)s) AS i
            """
        )
        run(
            """
            ALTER TABLE bench_g ADD COLUMN blocked_at timestamptz, ADD COLUMN refollow_at timestamptz,
                ADD COLUMN unsub_at timestamptz, ADD COLUMN bound_at timestamptz, ADD COLUMN member_at timestamptz;
            UPDATE bench_g SET
                blocked_at = CASE WHEN r1 < 16 THEN LEAST(created_at + make_interval(days => i %% 200, hours => 1),
                                                          %(end)s) END,
                unsub_at = CASE WHEN r1 >= 16 AND r1 < 19 THEN LEAST(created_at + make_interval(days => i %% 150,
                                                          hours => 3), %(end)s) END,
                bound_at = CASE WHEN r2 < 20 THEN LEAST(created_at + make_interval(days => i %% 60, hours => 2),
                                                        %(end)s) END,
                member_at = CASE WHEN r3 < 27 THEN LEAST(created_at + make_interval(days => i %% 90, hours => 5),
                                                         %(end)s) END;
            UPDATE bench_g SET refollow_at = LEAST(blocked_at + make_interval(days => i %% 120, hours => 1), %(end)s)
                WHERE r1 < 5;
            """
        )
        cursor.execute("SELECT nextval(pg_get_serial_sequence('cdp_customer', 'id'))")
        cbase = cursor.fetchone()[0]
        cursor.execute("SELECT setval(pg_get_serial_sequence('cdp_customer', 'id'), %s)", [cbase + n + 1])
        cursor.execute("SELECT nextval(pg_get_serial_sequence('cdp_contact', 'id'))")
        kbase = cursor.fetchone()[0]
        cursor.execute("SELECT setval(pg_get_serial_sequence('cdp_contact', 'id'), %s)", [kbase + n + 1])
        p.update(cbase=cbase, kbase=kbase)
        run(
            """
            INSERT INTO cdp_customer (id, team_id, member_id, phone, email, name, is_bound, first_bound_at,
                first_bound_method, is_member, member_since, points_balance, points_accumulated, created_at,
                updated_at)
            SELECT %(cbase)s + i, %(team)s, CASE WHEN member_at IS NOT NULL THEN 'M' || i END, '', '',
                   'Bench ' || i, bound_at IS NOT NULL, bound_at, COALESCE(CASE WHEN bound_at IS NOT NULL
                   THEN method END, ''), member_at IS NOT NULL, member_at, 0, 0, created_at, now()
            FROM bench_g
            """
        )
        run(
            """
            INSERT INTO cdp_contact (id, team_id, channel_id, customer_id, external_id, phone, business_scoped_id,
                display_name, status, subscribed_at, status_changed_at, omo_staff, omo_branch, fb_recurring_optin,
                fb_recurring_token, unsubscribed_broadcast, unsubscribed_web_push, unsubscribed_cart_remarketing,
                source, source_detail, is_over_quota, created_at)
            SELECT %(kbase)s + i, %(team)s, channel_id, %(cbase)s + i, 'B' || i, '', '', '',
                   CASE WHEN refollow_at IS NOT NULL THEN 'subscribed' WHEN blocked_at IS NOT NULL THEN 'blocked'
                        WHEN unsub_at IS NOT NULL THEN 'unsubscribed' ELSE 'subscribed' END,
                   COALESCE(refollow_at, created_at), COALESCE(refollow_at, blocked_at, unsub_at, created_at),
                   '', '', false, '', unsub_at IS NOT NULL, false, false, source, '', false, created_at
            FROM bench_g
            """
        )
        run(
            """
            INSERT INTO cdp_binding (team_id, contact_id, customer_id, method, member_id, phone, email, bound_at,
                created_at)
            SELECT %(team)s, %(kbase)s + i, %(cbase)s + i, method, '', '', 'b' || i || '@example.com', bound_at,
                   bound_at
            FROM bench_g WHERE bound_at IS NOT NULL
            """
        )
        event = """
            INSERT INTO cdp_customerevent (team_id, customer_id, contact_id, channel_id, type, occurred_at, data,
                created_at)
            SELECT %(team)s, %(cbase)s + i, {contact}, {channel}, '{type}', {at}, {data}, {at}
            FROM bench_g WHERE {where}
        """
        contact, channel = "%(kbase)s + i", "channel_id"
        for type_, at, data, where in [
            ("contact_created", "created_at", "jsonb_build_object('source', source, 'status', 'subscribed')", "true"),
            ("blocked", "blocked_at", '\'{"status": "blocked"}\'::jsonb', "blocked_at IS NOT NULL"),
            ("subscribed", "refollow_at", '\'{"status": "subscribed"}\'::jsonb', "refollow_at IS NOT NULL"),
            (
                "unsubscribed",
                "unsub_at",
                '\'{"status": "unsubscribed", "scope": "broadcast"}\'::jsonb',
                "unsub_at IS NOT NULL",
            ),
            ("binding", "bound_at", "jsonb_build_object('method', method)", "bound_at IS NOT NULL"),
            (
                "tag_added",
                "LEAST(created_at + make_interval(days => i %% 30), %(end)s)",
                '\'{"tag": "VIP"}\'::jsonb',
                "r1 >= 40",
            ),
            (
                "checkout_completed",
                "LEAST(created_at + make_interval(days => i %% 45), %(end)s)",
                '\'{"amount": "100"}\'::jsonb',
                "r2 >= 80",
            ),
        ]:
            run(event.format(contact=contact, channel=channel, type=type_, at=at, data=data, where=where))
        run(
            event.format(
                contact="NULL",
                channel="NULL",
                type="member_registered",
                at="member_at",
                data="jsonb_build_object('member_id', 'M' || i)",
                where="member_at IS NOT NULL",
            )
        )
        for table in ("cdp_customer", "cdp_contact", "cdp_binding", "cdp_customerevent"):
            cursor.execute(f"ANALYZE {table}")
    return channels
