"""cdp benchmarks: the events API (identify + binding end to end) and identity merges, each beside raw SQL.

python manage.py bench events_api merge [--scale 0.1]
"""

import importlib.util
import multiprocessing
import time
import uuid
from datetime import timedelta

from django.db import connection, connections, transaction
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services import create_api_key, create_team
from core.benchmarks import Timer, benchmark, figure

from .models import AttributeValue, Channel, Contact, CustomAttribute, Customer, CustomerTag, Tag
from .services import identity

if importlib.util.find_spec("cdp.bench_console") is not None:
    from . import bench_console  # noqa: F401

BATCH = 100


def _team(prefix):
    return create_team(slug=f"{prefix}-{uuid.uuid4().hex[:8]}", name=f"Bench {prefix}", contact_quota=10_000_000)


def _batches(channel_id, n, tag):
    """n events in batches of 100: half member.identify, half binding of a new LINE contact to that member."""
    at = (timezone.now() - timedelta(hours=1)).isoformat()
    events = []
    for i in range(n // 2):
        member = f"{tag}-M{i}"
        events.append(
            {"id": f"{tag}-i{i}", "type": "member.identify", "occurred_at": at, "data": {"member_id": member}}
        )
        events.append(
            {
                "id": f"{tag}-b{i}",
                "type": "binding",
                "occurred_at": at,
                "data": {"channel": channel_id, "external_id": f"U{tag}{i}", "member_id": member, "method": "api"},
            }
        )
    return [events[i : i + BATCH] for i in range(0, len(events), BATCH)]


@benchmark("events_api", help="POST /api/v1/events: identify + binding events end to end, batches of 100")
def events_api(scale=1.0):
    # The in-process test client: no network, but the full Django/DRF stack (auth, throttle, parsing, rendering).
    with override_settings(ALLOWED_HOSTS=["*"], SECURE_SSL_REDIRECT=False, DEBUG=False):
        yield from _events_api(scale)


def _events_api(scale):
    n = max(200, int(5000 * scale)) // 2 * 2
    team = _team("bench-events")
    channel = Channel.objects.create(team=team, kind="line", name="LINE", external_id=f"bot-{team.slug}")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {create_api_key(team=team, name='bench').raw_key}")
    warm = _batches(channel.pk, 200, "warm")
    for batch in warm:
        client.post("/api/v1/events", {"events": batch}, format="json")
    tag = uuid.uuid4().hex[:6]
    batches = _batches(channel.pk, n, tag)
    timer = Timer()
    start = time.perf_counter()
    for batch in batches:
        with timer:
            response = client.post("/api/v1/events", {"events": batch}, format="json")
        body = response.json()
        assert response.status_code == 200 and body["accepted"] == len(batch), body
    elapsed = time.perf_counter() - start
    yield figure("events_per_second", n / elapsed, "events/s", n=n, batch=BATCH)
    yield figure("batch_p95", timer.p(95) * 1000, "ms", n=len(batches))
    # Duplicates: the same batches again change nothing and are cheap.
    start = time.perf_counter()
    for batch in batches[:10]:
        client.post("/api/v1/events", {"events": batch}, format="json")
    yield figure("duplicate_events_per_second", 10 * BATCH / (time.perf_counter() - start), "events/s", n=10 * BATCH)

    # Raw SQL reference: the same rows (receipts, customers, contacts, bindings, timeline) in multi-row INSERTs.
    ref_team = _team("bench-events-ref")
    ref_channel = Channel.objects.create(team=ref_team, kind="line", name="LINE", external_id=f"bot-{ref_team.slug}")
    start = time.perf_counter()
    for batch in _batches(ref_channel.pk, n, "ref"):
        _raw_apply(ref_team.pk, ref_channel.pk, batch)
    yield figure("events_per_second", n / (time.perf_counter() - start), "events/s", n=n, reference="raw_sql")


def _insert(cursor, table, columns, rows, returning=False):
    if not rows:
        return []
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES " + ", ".join([placeholders] * len(rows))
    if returning:
        sql += " RETURNING id"
    cursor.execute(sql, [value for row in rows for value in row])
    return [r[0] for r in cursor.fetchall()] if returning else []


def _raw_apply(team_id, channel_id, batch):
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        _insert(
            cursor,
            "cdp_eventreceipt",
            ["team_id", "event_id", "type", "received_at"],
            [(team_id, e["id"], e["type"], now) for e in batch],
        )
        identifies = [e for e in batch if e["type"] == "member.identify"]
        bindings = [e for e in batch if e["type"] == "binding"]
        cols = [
            "team_id",
            "member_id",
            "phone",
            "email",
            "name",
            "is_member",
            "member_since",
            "first_bound_method",
            "is_bound",
            "first_bound_at",
            "last_customer_interaction_at",
            "last_team_marketing_at",
            "last_team_interaction_at",
            "last_checkout_at",
            "points_balance",
            "points_accumulated",
            "merged_into_id",
            "created_at",
            "updated_at",
        ]
        rows = [
            (team_id, e["data"]["member_id"], "", "", "", True, now, "api", True, now)
            + (None, None, None, None, 0, 0, None, now, now)
            for e in identifies
        ]
        customer_ids = _insert(cursor, "cdp_customer", cols, rows, returning=True)
        event_rows = [(team_id, cid, None, None, "member_registered", now, "{}", now) for cid in customer_ids]
        # the contact arrives with its own customer, which the binding absorbs: modelled as the contact row only
        contact_ids = _insert(
            cursor,
            "cdp_contact",
            [
                "team_id",
                "channel_id",
                "customer_id",
                "external_id",
                "phone",
                "business_scoped_id",
                "display_name",
                "status",
                "subscribed_at",
                "status_changed_at",
                "omo_staff",
                "omo_branch",
                "fb_recurring_optin",
                "fb_recurring_token",
                "unsubscribed_broadcast",
                "unsubscribed_web_push",
                "unsubscribed_cart_remarketing",
                "source",
                "source_detail",
                "is_over_quota",
                "created_at",
            ],
            [
                (team_id, channel_id, cid, e["data"]["external_id"], "", "", "", "subscribed", now, now, "", "")
                + (False, "", False, False, False, "website_binding", "", False, now)
                for cid, e in zip(customer_ids, bindings, strict=True)
            ],
            returning=True,
        )
        _insert(
            cursor,
            "cdp_binding",
            ["team_id", "contact_id", "customer_id", "method", "member_id", "phone", "email", "bound_at", "created_at"],
            [
                (team_id, ct, cid, "api", e["data"]["member_id"], "", "", now, now)
                for ct, cid, e in zip(contact_ids, customer_ids, bindings, strict=True)
            ],
        )
        event_rows += [
            (team_id, cid, ct, channel_id, "binding", now, "{}", now)
            for ct, cid in zip(contact_ids, customer_ids, strict=True)
        ]
        _insert(
            cursor,
            "cdp_customerevent",
            ["team_id", "customer_id", "contact_id", "channel_id", "type", "occurred_at", "data", "created_at"],
            event_rows,
        )


# --- merge ---------------------------------------------------------------------------------------------------


def _pairs(team, n, tag):
    """n pairs of customers, each with 2 contacts, 3 tags (1 shared) and 3 attribute values (1 conflicting)."""
    line = Channel.objects.create(team=team, kind="line", name=f"L{tag}", external_id=f"L-{tag}")
    wa = Channel.objects.create(team=team, kind="whatsapp", name=f"W{tag}", external_id=f"W-{tag}")
    tags = Tag.objects.bulk_create([Tag(team=team, name=f"{tag}-t{i}") for i in range(5)])
    attrs = CustomAttribute.objects.bulk_create(
        [CustomAttribute(team=team, key=f"k{tag}_{i}", label="x", type="text") for i in range(4)]
    )
    now = timezone.now()
    customers = Customer.objects.bulk_create([Customer(team=team, points_balance=10) for _ in range(2 * n)])
    contacts, customer_tags, values = [], [], []
    for index, customer in enumerate(customers):
        side = index % 2
        for k, channel in enumerate((line, wa)):
            contacts.append(Contact(team=team, channel=channel, customer=customer, external_id=f"{tag}-{index}-{k}"))
        for t in (tags[0], tags[1 + side], tags[3 + side]):
            customer_tags.append(CustomerTag(team=team, customer=customer, tag=t, source="bench"))
        for a in (attrs[0], attrs[1 + side], attrs[3] if side else attrs[2]):
            values.append(
                AttributeValue(team=team, customer=customer, attribute=a, text_value=f"v{index}", updated_at=now)
            )
    Contact.objects.bulk_create(contacts, batch_size=2000)
    CustomerTag.objects.bulk_create(customer_tags, batch_size=2000, ignore_conflicts=True)
    AttributeValue.objects.bulk_create(values, batch_size=2000, ignore_conflicts=True)
    return [(customers[2 * i], customers[2 * i + 1]) for i in range(n)]


@benchmark(
    "merge",
    help="Identity merge of two customers with contacts, tags and attributes: merges/s and p95, sequential and "
    "from 2 processes",
    requires_postgres=True,  # the raw-SQL reference is PostgreSQL's (FOR UPDATE, UPDATE ... FROM)
)
def merge(scale=1.0):
    # Production settings: DEBUG off (no query log), for the app and the raw-SQL reference alike.
    with override_settings(DEBUG=False):
        yield from _merge(scale)


MERGE_BLOCK = 50  # app and raw SQL alternate in blocks of this many merges, so both see the same machine load
PROCESSES = 2


def _merge(scale):
    n = max(50, int(1000 * scale)) // MERGE_BLOCK * MERGE_BLOCK
    team = _team("bench-merge")
    for survivor, absorbed in _pairs(team, 20, "w"):  # warm-up: first-use costs (imports, plans) are not timed
        _app_merge(team.pk, survivor, absorbed)

    # Sequential: one process, one connection.
    app_pairs, ref_pairs = _pairs(team, n, "m"), _pairs(team, n, "r")
    app, ref = Timer(), Timer()
    for start in range(0, n, MERGE_BLOCK):
        for timer, run, pairs in ((app, _app_merge, app_pairs), (ref, _raw_merge, ref_pairs)):
            for survivor, absorbed in pairs[start : start + MERGE_BLOCK]:
                with timer:
                    run(team.pk, survivor, absorbed)
    for timer, reference in ((app, None), (ref, "raw_sql")):
        yield figure("merges_per_second", n / sum(timer.samples), "merges/s", n=n, reference=reference)
        yield figure("merge_p95", timer.p(95) * 1000, "ms", n=n, reference=reference)
        yield figure("merge_p50", timer.median * 1000, "ms", n=n, reference=reference)

    # Concurrent: merges arrive from several web/worker processes at once. PROCESSES processes, each with its own
    # connection and its own disjoint pairs; merges/s is all merges over the wall time from a common start.
    app_pairs, ref_pairs = _pairs(team, n, "c"), _pairs(team, n, "d")
    results = {"app": ([], 0.0), "raw_sql": ([], 0.0)}
    for start in range(0, n, n // 2):
        for name, pairs in (("app", app_pairs), ("raw_sql", ref_pairs)):
            samples, elapsed = _concurrently(name, team.pk, pairs[start : start + n // 2])
            results[name] = (results[name][0] + samples, results[name][1] + elapsed)
    for name, (samples, elapsed) in results.items():
        reference = None if name == "app" else name
        timer = Timer(samples=samples)
        extra = {"processes": PROCESSES, "reference": reference}
        yield figure("merges_per_second_concurrent", len(samples) / elapsed, "merges/s", n=len(samples), **extra)
        yield figure("merge_p95_concurrent", timer.p(95) * 1000, "ms", n=len(samples), **extra)


def _app_merge(team_id, survivor, absorbed):
    identity.merge_customers(survivor=survivor, absorbed=absorbed, evidence={"reason": "bench"})


def _concurrently(name, team_id, pairs):
    """Merge `pairs` split over PROCESSES forked processes that start together. Returns (latencies, wall time)."""
    context = multiprocessing.get_context("fork")
    ready = context.Barrier(PROCESSES + 1)
    results = context.Queue()
    connections.close_all()  # a forked child must open its own connection
    workers = [
        context.Process(target=_merge_worker, args=(name, team_id, pairs[i::PROCESSES], ready, results))
        for i in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    ready.wait(timeout=600)  # broken (an exception) when a worker fails before the start
    start = time.perf_counter()
    samples = []
    for _ in workers:
        outcome = results.get(timeout=600)
        if isinstance(outcome, str):
            raise RuntimeError(f"merge benchmark worker failed: {outcome}")
        samples += outcome
    elapsed = time.perf_counter() - start
    for worker in workers:
        worker.join()
    return samples, elapsed


def _merge_worker(name, team_id, pairs, ready, results):
    """One process of the concurrent run: load its customers, wait for the others, merge, report latencies."""
    try:
        customers = Customer.objects.in_bulk([pk for pair in pairs for pk in (pair[0].pk, pair[1].pk)])
        run = _app_merge if name == "app" else _raw_merge
        timer = Timer()
        ready.wait(timeout=600)
        for survivor, absorbed in pairs:
            with timer:
                run(team_id, customers[survivor.pk], customers[absorbed.pk])
        results.put(timer.samples)
    except Exception as exc:  # reported to the parent, which fails the benchmark with it
        ready.abort()
        results.put(f"{type(exc).__name__}: {exc}")
        raise
    finally:
        connections.close_all()


def _raw_merge(team_id, survivor, absorbed):
    """The same work by hand: lock, snapshot reads, move rows, resolve conflicts, record."""
    survivor_id, absorbed_id = survivor.pk, absorbed.pk
    with transaction.atomic(), connection.cursor() as c:
        c.execute("SELECT id FROM cdp_customer WHERE id IN (%s, %s) ORDER BY id FOR UPDATE", [survivor_id, absorbed_id])
        c.execute("SELECT id FROM cdp_contact WHERE customer_id = %s", [absorbed_id])
        c.execute("SELECT tag_id FROM cdp_customertag WHERE customer_id = %s", [absorbed_id])
        c.execute(
            "SELECT attribute_id FROM cdp_attributevalue WHERE customer_id IN (%s, %s)", [survivor_id, absorbed_id]
        )
        c.execute("UPDATE cdp_contact SET customer_id = %s WHERE customer_id = %s", [survivor_id, absorbed_id])
        c.execute("UPDATE cdp_customerevent SET customer_id = %s WHERE customer_id = %s", [survivor_id, absorbed_id])
        c.execute(
            "DELETE FROM cdp_customertag WHERE customer_id = %s AND tag_id IN "
            "(SELECT tag_id FROM cdp_customertag WHERE customer_id = %s)",
            [absorbed_id, survivor_id],
        )
        c.execute("UPDATE cdp_customertag SET customer_id = %s WHERE customer_id = %s", [survivor_id, absorbed_id])
        c.execute(
            "UPDATE cdp_attributevalue s SET text_value = a.text_value, updated_at = a.updated_at "
            "FROM cdp_attributevalue a WHERE s.customer_id = %s AND a.customer_id = %s "
            "AND a.attribute_id = s.attribute_id AND a.updated_at > s.updated_at",
            [survivor_id, absorbed_id],
        )
        c.execute(
            "DELETE FROM cdp_attributevalue WHERE customer_id = %s AND attribute_id IN "
            "(SELECT attribute_id FROM cdp_attributevalue WHERE customer_id = %s)",
            [absorbed_id, survivor_id],
        )
        c.execute("UPDATE cdp_attributevalue SET customer_id = %s WHERE customer_id = %s", [survivor_id, absorbed_id])
        c.execute("UPDATE cdp_customer SET merged_into_id = %s WHERE id = %s", [survivor_id, absorbed_id])
        c.execute(
            "UPDATE cdp_customer s SET points_balance = s.points_balance + a.points_balance, "
            "points_accumulated = s.points_accumulated + a.points_accumulated FROM cdp_customer a "
            "WHERE s.id = %s AND a.id = %s",
            [survivor_id, absorbed_id],
        )
        c.execute(
            "INSERT INTO cdp_mergerecord (team_id, survivor_id, absorbed_id, evidence, snapshot, merged_at, "
            "unmerged_by) VALUES (%s, %s, %s, '{}', '{}', now(), '')",
            [team_id, survivor_id, absorbed_id],
        )
