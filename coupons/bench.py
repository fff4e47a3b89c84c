"""Coupon benchmarks (PostgreSQL): claims from 2 processes on a 1,000,000-code pool, and the claim page's p99."""

import datetime
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.models import Team
from accounts.services import create_team
from cdp.models import Channel, Contact, Customer
from cdp.services import binding_links
from core.benchmarks import benchmark, figure

from .models import Campaign, Claim, CouponCode
from .services import save_campaign

ROOT = Path(__file__).resolve().parents[1]


def _setup(codes, contacts):
    team = Team.objects.filter(slug="bench-coupons").first() or create_team(slug="bench-coupons", name="bench")
    Claim.objects.filter(team=team).delete()
    CouponCode.objects.filter(team=team).delete()
    Campaign.objects.filter(team=team).delete()
    now = timezone.now()
    campaign = save_campaign(
        Campaign(
            team=team,
            name="bench",
            discount_text="9折",
            starts_at=now - datetime.timedelta(days=1),
            ends_at=now + datetime.timedelta(days=30),
            redeem_url="https://shop.example/",
        )
    )
    with connection.cursor() as cursor:  # 1,000,000 unique codes in one statement
        cursor.execute(
            f"INSERT INTO {CouponCode._meta.db_table} (team_id, campaign_id, code, created_at) "
            "SELECT %s, %s, 'B' || lpad(g::text, 9, '0'), now() FROM generate_series(1, %s) g",
            [team.pk, campaign.pk, codes],
        )
        cursor.execute(f"ANALYZE {CouponCode._meta.db_table}")
    channel = Channel.objects.filter(team=team, kind="line").first() or Channel.objects.create(
        team=team, kind="line", name="bench LINE"
    )
    have = list(Contact.objects.filter(team=team, channel=channel).order_by("pk").values_list("pk", flat=True))
    if len(have) < contacts:
        customers = Customer.objects.bulk_create([Customer(team=team) for _ in range(contacts - len(have))])
        Contact.objects.bulk_create(
            [
                Contact(team=team, channel=channel, customer=c, external_id=f"Ubench{len(have) + i}")
                for i, c in enumerate(customers)
            ]
        )
        have = list(Contact.objects.filter(team=team, channel=channel).order_by("pk").values_list("pk", flat=True))
    return team, campaign, have[:contacts]


def _workers(campaign, ids, *extra):
    half = len(ids) // 2
    ranges = [(ids[0], ids[half]), (ids[half], ids[-1] + 1)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "coupons.bench_worker", str(campaign.pk), str(lo), str(hi), *extra],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for lo, hi in ranges
    ]
    out = [p.communicate()[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs), out
    return sum(int(o[0]) for o in out), max(float(o[1]) for o in out)


@benchmark(
    "coupon_claims", help="claims from 2 processes on one campaign with 1,000,000 unique codes", requires_postgres=True
)
def coupon_claims(scale=1.0):
    n = max(200, int(4000 * scale))
    for reference, extra in ((None, ()), ("raw_sql", ("--raw",))):
        team, campaign, ids = _setup(max(1000, int(1_000_000 * scale)), n)
        claimed, seconds = _workers(campaign, ids, *extra)
        codes = list(Claim.objects.filter(campaign=campaign).values_list("code", flat=True))
        assert claimed == n == len(codes) == len(set(codes)), (claimed, n, len(codes))
        yield figure("claims_per_second", claimed / seconds, "claims/s", n=n, reference=reference, processes=2)


@benchmark(
    "coupon_claim_page", help="GET /c/<token>/ (the claim page, a new claim or the same one)", requires_postgres=True
)
def coupon_claim_page(scale=1.0):
    n = max(100, int(1000 * scale))
    team, campaign, ids = _setup(max(1000, int(1_000_000 * scale)), n)
    contacts = Contact.objects.filter(pk__in=ids)
    paths = [f"/c/{binding_links.make_token(c, 'coupon', campaign.pk)}/" for c in contacts]
    client = Client()
    samples = []
    for path in paths + paths:  # a new claim each, then the same page again (idempotent)
        started = time.perf_counter()
        response = client.get(path, HTTP_HOST="localhost")
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    samples.sort()
    p99 = samples[int(len(samples) * 0.99) - 1]
    yield figure("claim_page_p99", p99, "ms", n=len(samples), median=round(statistics.median(samples), 2))
    with connection.cursor() as cursor:
        times = []
        for contact_id in ids[:200]:
            started = time.perf_counter()
            cursor.execute(
                f"SELECT code FROM {Claim._meta.db_table} WHERE team_id = %s AND campaign_id = %s AND customer_id = "
                "(SELECT customer_id FROM cdp_contact WHERE id = %s) ORDER BY number",
                [team.pk, campaign.pk, contact_id],
            )
            cursor.fetchall()
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        yield figure("claim_page_p99", times[int(len(times) * 0.99) - 1], "ms", n=len(times), reference="raw_sql")
