"""Console benchmarks: CSV import throughput and the customer list's first page at a million contacts.

python manage.py bench csv_import customer_list [--scale 0.1]

csv_import     100,000 × scale rows (LINE UID, name, email, tags, a number attribute) through cdp.imports, beside
               raw SQL inserting the same customers, contacts, tags and values with multi-row INSERTs; then as
               many rows by member id (new members, every tenth matching an imported customer by email).
customer_list  the first page (search + tag filter) over the seed_demo team of 1,000,000 × scale contacts
               (cdp.bench_data: seeded on first run, slow; shared with analytics and audiences), as the HTMX
               request the filter form sends, the ORM query alone, and the hand-written SQL of the same query.
"""

import time
import uuid

from django.core.files.base import ContentFile
from django.db import connection, reset_queries
from django.test import Client

from accounts.models import Membership
from accounts.services import create_team
from core.benchmarks import Timer, analyze_if_no_autovacuum, benchmark, figure

from . import imports
from .bench_data import seed_demo_team
from .filters import CustomerFilter, keyset_page
from .models import Channel, Contact, CustomAttribute, Customer, ImportJob, Tag

TAGS = ["VIP", "新客", "回購客", "母親節活動"]


def _csv(n, offset=0):
    lines = ["uid,name,email,tags,level"]
    for i in range(offset, offset + n):
        tags = TAGS[i % 4] + ("," + TAGS[(i + 1) % 4] if i % 3 == 0 else "")
        lines.append(f'U{i:032x},顧客{i},user{i}@example.com,"{tags}",{i % 5}')
    return "\ufeff" + "\n".join(lines) + "\n"


def _member_csv(n):
    lines = ["member,name,email,tags,level"]
    for i in range(n):
        email = f"user{i}@example.com" if i % 10 == 0 else f"member{i}@example.com"  # every tenth: an email match
        lines.append(f'M{i:08d},會員{i},{email},"{TAGS[i % 4]}",{i % 5}')
    return "\n".join(lines) + "\n"


@benchmark("csv_import", help="CSV import rows/s (100,000 rows at scale 1) beside raw SQL inserts")
def csv_import(scale=1.0):
    n = max(1000, int(100_000 * scale))
    analyze_if_no_autovacuum(*(model._meta.db_table for model in (Customer, Contact, Tag, CustomAttribute)))
    team = create_team(slug=f"bench-import-{uuid.uuid4().hex[:8]}", name="Bench import", contact_quota=10_000_000)
    channel = Channel.objects.create(team=team, kind="line", name="LINE", external_id=f"bench-{team.slug}")
    CustomAttribute.objects.create(team=team, key="level", label="等級", type="number")
    job = ImportJob(team=team, channel=channel, original_name="bench.csv")
    job.file.save(f"bench/{uuid.uuid4().hex}.csv", ContentFile(_csv(n).encode()), save=False)
    job.mapping = {
        "key_column": "uid",
        "key_kind": "external_id",
        "columns": {"name": "name", "email": "email", "tags": "tags", "level": "attr:level"},
    }
    job.total_rows = n
    job.save()
    started = time.perf_counter()
    imports.run(job.pk)
    elapsed = time.perf_counter() - started
    job.refresh_from_db()
    assert job.applied_rows == n and job.error_rows == 0, (job.applied_rows, job.error_rows, job.errors[:3])
    yield figure("rows_per_second", n / elapsed, "rows/s", n=n, seconds=round(elapsed, 2))
    job.file.delete(save=False)
    reset_queries()

    # By member id, into the same team: new members (phone / email matching finds the customers imported above
    # for every tenth row, which take the member id), tags and the attribute.
    job = ImportJob(team=team, original_name="members.csv")
    job.file.save(f"bench/{uuid.uuid4().hex}.csv", ContentFile(_member_csv(n).encode()), save=False)
    job.mapping = {
        "key_column": "member",
        "key_kind": "member_id",
        "columns": {"name": "name", "email": "email", "tags": "tags", "level": "attr:level"},
    }
    job.total_rows = n
    job.save()
    started = time.perf_counter()
    imports.run(job.pk)
    elapsed = time.perf_counter() - started
    job.refresh_from_db()
    assert job.applied_rows == n and job.error_rows == 0, (job.applied_rows, job.error_rows, job.errors[:3])
    yield figure("member_rows_per_second", n / elapsed, "rows/s", n=n, seconds=round(elapsed, 2))
    job.file.delete(save=False)
    reset_queries()

    # Raw SQL: the same customers, contacts, tag links and attribute values, 1,000-row multi-row INSERTs.
    ref_team = create_team(slug=f"bench-import-{uuid.uuid4().hex[:8]}", name="Bench raw", contact_quota=10_000_000)
    ref_channel = Channel.objects.create(team=ref_team, kind="line", name="LINE", external_id=f"b-{ref_team.slug}")
    attribute = CustomAttribute.objects.create(team=ref_team, key="level", label="等級", type="number")
    tag_ids = [Tag.objects.create(team=ref_team, name=name).pk for name in TAGS]
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for start in range(0, n, 1000):
            _raw_chunk(cursor, ref_team.pk, ref_channel.pk, attribute.pk, tag_ids, range(start, min(n, start + 1000)))
    elapsed = time.perf_counter() - started
    yield figure("rows_per_second", n / elapsed, "rows/s", n=n, reference="raw_sql", seconds=round(elapsed, 2))


def _values(rows, width):
    one = "(" + ", ".join(["%s"] * width) + ")"
    return ", ".join([one] * rows)


def _raw_chunk(cursor, team_id, channel_id, attribute_id, tag_ids, indexes):
    indexes = list(indexes)
    params = []
    for i in indexes:
        params += [team_id, f"顧客{i}", "", f"user{i}@example.com"]
    cursor.execute(
        "INSERT INTO cdp_customer (team_id, name, phone, email, is_bound, first_bound_method, is_member, "
        "points_balance, points_accumulated, created_at, updated_at) "
        "SELECT v.team_id::bigint, v.name, v.phone, v.email, false, '', false, 0, 0, now(), now() "
        f"FROM (VALUES {_values(len(indexes), 4)}) AS v(team_id, name, phone, email) RETURNING id",
        params,
    )
    customer_ids = [row[0] for row in cursor.fetchall()]
    params = []
    for i, customer_id in zip(indexes, customer_ids, strict=True):
        params += [team_id, channel_id, customer_id, f"U{i:032x}", f"顧客{i}"]
    cursor.execute(
        "INSERT INTO cdp_contact (team_id, channel_id, customer_id, external_id, display_name, phone, "
        "business_scoped_id, status, subscribed_at, status_changed_at, omo_staff, omo_branch, fb_recurring_optin, "
        "fb_recurring_token, unsubscribed_broadcast, unsubscribed_web_push, unsubscribed_cart_remarketing, source, "
        "source_detail, is_over_quota, created_at) "
        "SELECT v.t::bigint, v.c::bigint, v.cu::bigint, v.e, v.n, '', '', 'subscribed', now(), now(), '', '', false, "
        "'', false, false, false, 'import', '', false, now() "
        f"FROM (VALUES {_values(len(indexes), 5)}) AS v(t, c, cu, e, n)",
        params,
    )
    params = []
    for i, customer_id in zip(indexes, customer_ids, strict=True):
        params += [team_id, customer_id, tag_ids[i % 4]]
        if i % 3 == 0:
            params += [team_id, customer_id, tag_ids[(i + 1) % 4]]
    cursor.execute(
        "INSERT INTO cdp_customertag (team_id, customer_id, tag_id, source, applied_at) "
        f"SELECT v.t::bigint, v.c::bigint, v.g::bigint, 'import', now() FROM (VALUES {_values(len(params) // 3, 3)}) "
        "AS v(t, c, g)",
        params,
    )
    params = []
    for i, customer_id in zip(indexes, customer_ids, strict=True):
        params += [team_id, customer_id, attribute_id, i % 5]
    cursor.execute(
        "INSERT INTO cdp_attributevalue (team_id, customer_id, attribute_id, number_value, updated_at) "
        f"SELECT v.t::bigint, v.c::bigint, v.a::bigint, v.n::numeric, now() FROM (VALUES {_values(len(indexes), 4)}) "
        "AS v(t, c, a, n)",
        params,
    )


PROBE_SQL = [
    "SELECT id FROM cdp_customer WHERE team_id = %(team)s AND member_id = %(q)s AND merged_into_id IS NULL LIMIT 500",
    "SELECT customer_id FROM cdp_contact WHERE team_id = %(team)s AND external_id = %(q)s LIMIT 500",
    "SELECT id FROM cdp_tag WHERE team_id = %(team)s AND name = %(q)s LIMIT 1",
]
LIST_SQL = """
SELECT c.id, c.member_id, c.name, c.phone, c.email, c.is_bound, c.is_member, c.last_customer_interaction_at,
       c.created_at
FROM cdp_customer c
WHERE c.team_id = %(team)s AND c.merged_into_id IS NULL AND c.name LIKE %(prefix)s
  AND EXISTS (SELECT 1 FROM cdp_customertag t WHERE t.team_id = %(team)s AND t.customer_id = c.id
              AND t.tag_id = %(tag)s)
ORDER BY c.created_at DESC, c.id DESC
LIMIT 51
"""


@benchmark("customer_list", help="customer list first page, search + tag filter, at 1,000,000 contacts (p50 ms)")
def customer_list(scale=1.0, samples=30):
    team = seed_demo_team(scale)
    contacts = Contact.objects.for_team(team).count()
    user = _bench_user(team)
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    tag = Tag.objects.get(team=team, name="VIP")
    params = {"q": "陳", "tag": tag.pk}
    response = client.get("/customers/", params, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and b"customer-row" in response.content, response.status_code
    timer = Timer()
    for _ in range(samples):
        with timer:
            client.get("/customers/", params, HTTP_HX_REQUEST="true")
        reset_queries()
    yield figure("htmx_request_p50", timer.median * 1000, "ms", n=contacts, samples=samples)
    page = Timer()
    for _ in range(max(5, samples // 3)):
        with page:
            client.get("/customers/", params)
        reset_queries()
    yield figure("full_page_p50", page.median * 1000, "ms", n=contacts)
    bar = Timer()
    for _ in range(max(5, samples // 3)):
        with bar:
            client.get("/customers/quota/", HTTP_HX_REQUEST="true")
    yield figure("quota_bar_p50", bar.median * 1000, "ms", n=contacts, note="loaded by HTMX after the page")
    member = Customer.objects.for_team(team).filter(member_id__isnull=False).order_by("created_at").first()
    old = Timer()
    for _ in range(samples):
        with old:
            client.get("/customers/", {"q": member.member_id}, HTTP_HX_REQUEST="true")
        reset_queries()
    yield figure("member_id_search_p50", old.median * 1000, "ms", n=contacts, note="the oldest member")
    orm = Timer()
    for _ in range(samples):
        with orm:
            customer_filter = CustomerFilter(params, team=team)
            assert customer_filter.is_valid()
            keyset_page(customer_filter.qs)
    yield figure("query_p50", orm.median * 1000, "ms", n=contacts)
    raw = Timer()
    with connection.cursor() as cursor:
        for _ in range(samples):
            with raw:
                for probe in PROBE_SQL:
                    cursor.execute(probe, {"team": team.pk, "q": "陳"})
                    cursor.fetchall()
                cursor.execute(LIST_SQL, {"team": team.pk, "q": "陳", "prefix": "陳%", "tag": tag.pk})
                cursor.fetchall()
    yield figure("query_p50", raw.median * 1000, "ms", n=contacts, reference="raw_sql")


def _bench_user(team):
    from django.contrib.auth import get_user_model

    user, _created = get_user_model().objects.get_or_create(username=f"bench@{team.slug}")
    Membership.objects.get_or_create(team=team, user=user, defaults={"role": "owner"})
    return user
