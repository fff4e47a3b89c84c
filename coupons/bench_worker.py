"""Claims from a separate process (bench coupon_claims starts two). Prints "<claimed> <seconds>".

Run: python -m coupons.bench_worker CAMPAIGN_ID CONTACT_ID_FROM CONTACT_ID_TO [--raw] (DATABASE_URL set). --raw
does the same with hand-written SQL: the SKIP LOCKED UPDATE of the pool, the INSERT of the claim, one transaction.
"""

import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from cdp.models import Contact  # noqa: E402
from coupons import services  # noqa: E402
from coupons.models import Campaign, Claim, CouponCode  # noqa: E402


def main():
    campaign_id, low, high = (int(v) for v in sys.argv[1:4])
    raw = "--raw" in sys.argv
    campaign = Campaign.objects.select_related("team").get(pk=campaign_id)
    contacts = list(Contact.objects.filter(team=campaign.team, pk__gte=low, pk__lt=high).only("pk", "channel_id"))
    claimed = 0
    started = time.perf_counter()
    if raw:
        code_table, claim_table = CouponCode._meta.db_table, Claim._meta.db_table
        with connection.cursor() as cursor:
            for contact in contacts:
                with transaction.atomic():
                    cursor.execute(
                        f"UPDATE {code_table} SET claimed_at = now() WHERE id = (SELECT id FROM {code_table} "
                        "WHERE campaign_id = %s AND claimed_at IS NULL ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) "
                        "RETURNING id, code",
                        [campaign_id],
                    )
                    row = cursor.fetchone()
                    cursor.execute(
                        f"INSERT INTO {claim_table} (team_id, campaign_id, customer_id, contact_id, number, code, "
                        "pool_code_id, claimed_at, order_id) SELECT team_id, %s, customer_id, id, 1, %s, %s, now(), '' "
                        "FROM cdp_contact WHERE id = %s",
                        [campaign_id, row[1], row[0], contact.pk],
                    )
                    claimed += 1
    else:
        now = timezone.now()
        for contact in contacts:
            claimed += services.claim(campaign, contact, now=now).status == "claimed"
    print(claimed, time.perf_counter() - started)


if __name__ == "__main__":
    main()
