"""The one seed_demo team the large benchmarks share (customer_list, analytics, audiences).

Seeding 1,000,000 contacts takes minutes, so every benchmark at a given scale uses the same team, slug
`bench-list-<n>`, seeded once with seed 7 and reused while it has contacts.
"""

import io

from django.core.management import call_command
from django.db import connection

from accounts.models import Team
from accounts.services import create_team

from . import quota
from .models import Contact

SEED = 7


def bench_slug(scale):
    return f"bench-list-{contacts_for(scale)}"


def contacts_for(scale):
    return max(1000, int(1_000_000 * scale))


def seed_demo_team(scale, stdout=None):
    """The seeded team for `scale`, seeding it (slow) on first use.

    The team is created here with a quota above its size before seed_demo runs: seed_demo's own default quota
    (20,000) would mark almost every contact over quota, and audiences exclude those. A team seeded earlier
    with the small quota is raised and its over-quota flags refreshed (set-based, the data stays the same).
    """
    n = contacts_for(scale)
    slug = bench_slug(scale)
    team = Team.objects.filter(slug=slug).first()
    if team is None:
        team = create_team(slug=slug, name="Demo Brand 示範品牌", time_zone="Asia/Taipei", contact_quota=2 * n)
    elif team.contact_quota < 2 * n:
        team.contact_quota = 2 * n
        team.save(update_fields=["contact_quota"])
        quota.refresh_over_quota(team)
    if not Contact.objects.for_team(team).exists():
        call_command("seed_demo", team=slug, contacts=n, seed=SEED, flush=True, stdout=stdout or io.StringIO())
        team.refresh_from_db()
        _vacuum()
    return team


VACUUMED = ("cdp_customer", "cdp_contact", "cdp_customertag", "cdp_attributevalue", "cdp_binding", "cdp_customerevent")


def _vacuum():
    """VACUUM (ANALYZE) after the bulk load, as autovacuum soon would: fresh statistics, and a visibility map that
    lets count queries read the covering indexes only. Without it the first runs measure a half-vacuumed table."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return
    with connection.cursor() as cursor:
        for table in VACUUMED:
            cursor.execute(f"VACUUM (ANALYZE) {table}")
