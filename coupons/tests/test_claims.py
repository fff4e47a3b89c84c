"""Claims and the claim page: idempotent per customer and campaign, the limit, the pool, the dates, bad links —
each a clear page in the browser's language with nothing assigned."""

import io
import threading
from datetime import timedelta

import pytest
from django.core import signing
from django.db import connection
from django.utils import timezone

from cdp.models import CustomerEvent, EventType
from cdp.services import binding_links
from cdp.tests.factories import ChannelFactory, ContactFactory
from coupons import services
from coupons.models import Claim, CouponCode

from .factories import make_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def contact(team):
    return ContactFactory(channel=ChannelFactory(team=team, kind="line"), external_id="U-claim")


def url(contact, campaign, method="coupon"):
    return f"/c/{binding_links.make_token(contact, method, campaign.pk)}/"


def test_claim_is_idempotent_and_records_a_timeline_event(client, team, contact):
    campaign = make_campaign(team)
    services.generate_codes(campaign, 3)
    first = client.get(url(contact, campaign))
    second = client.get(url(contact, campaign))
    claim = Claim.objects.get()
    assert first.status_code == second.status_code == 200
    assert claim.code in first.content.decode() and claim.code in second.content.decode()
    assert CouponCode.objects.filter(claimed_at__isnull=False).count() == 1
    event = CustomerEvent.objects.get(type=EventType.COUPON_CLAIMED)
    assert event.data["campaign"] == campaign.pk and event.contact_id == contact.pk


def test_a_second_claim_beyond_the_limit_is_a_clear_page_and_assigns_nothing(client, team, contact):
    campaign = make_campaign(team, per_customer_limit=2)
    services.generate_codes(campaign, 5)
    client.get(url(contact, campaign))
    assert client.post(url(contact, campaign)).status_code == 200  # the second, allowed
    page = client.post(url(contact, campaign), HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200 and 'data-page="limit"' in page.content.decode()
    assert "You have claimed 2 coupons, the limit per customer." in page.content.decode()
    assert Claim.objects.count() == 2 and CouponCode.objects.filter(claimed_at__isnull=False).count() == 2


@pytest.mark.parametrize(
    "fields, page",
    [
        ({"starts_at": timezone.now() + timedelta(days=1)}, "not_started"),
        ({"starts_at": timezone.now() - timedelta(days=5), "ends_at": timezone.now() - timedelta(days=1)}, "ended"),
    ],
)
def test_outside_the_dates_nothing_is_assigned(client, team, contact, fields, page):
    campaign = make_campaign(team, **fields)
    services.generate_codes(campaign, 2)
    response = client.get(url(contact, campaign))
    assert f'data-page="{page}"' in response.content.decode()
    assert not Claim.objects.exists() and not CouponCode.objects.filter(claimed_at__isnull=False).exists()


def test_an_exhausted_pool_and_a_shared_code_total(client, team, contact):
    campaign = make_campaign(team)
    services.generate_codes(campaign, 1)
    services.claim(campaign, ContactFactory(channel=contact.channel))
    response = client.get(url(contact, campaign), HTTP_ACCEPT_LANGUAGE="zh-Hant")
    assert 'data-page="exhausted"' in response.content.decode() and "已領取完畢" in response.content.decode()
    shared = make_campaign(team, code_mode="shared", shared_code="SPRING10", total_quantity=1)
    assert services.claim(shared, ContactFactory(channel=contact.channel)).status == "claimed"
    assert services.claim(shared, contact).status == "exhausted"
    assert Claim.objects.filter(campaign=shared).count() == 1


def test_expired_forged_and_other_campaign_links_are_clear_pages_in_the_browsers_language(client, team, contact):
    campaign = make_campaign(team)
    services.generate_codes(campaign, 2)
    team.binding_link_days = 1
    team.save()
    old = signing.TimestampSigner(salt=binding_links.SALT)
    old.timestamp = lambda: signing.b62_encode(int((timezone.now() - timedelta(days=2)).timestamp()))
    expired = old.sign_object(
        {"t": team.pk, "ch": contact.channel_id, "c": contact.pk, "m": "coupon", "r": campaign.pk}, compress=True
    )
    response = client.get(f"/c/{expired}/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 410 and "This link has expired" in response.content.decode()
    response = client.get(f"/c/{expired}/", HTTP_ACCEPT_LANGUAGE="zh-Hant")
    assert response.status_code == 410 and "連結已過期" in response.content.decode()
    good = binding_links.make_token(contact, "coupon", campaign.pk)
    for bad in (good[:-3] + "abc", "nonsense", binding_links.make_token(contact, "", campaign.pk)):
        response = client.get(f"/c/{bad}/", HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 400 and "This link is not valid" in response.content.decode()
    assert client.get(url(contact, campaign)).status_code == 200  # the genuine link still works
    assert client.get(f"/c/{binding_links.make_token(contact, 'coupon', 10**9)}/").status_code == 400
    assert Claim.objects.count() == 1


def test_another_teams_campaign_is_not_reachable_with_a_token(client, team, other_team, contact):
    theirs = make_campaign(other_team)
    services.generate_codes(theirs, 1)
    response = client.get(url(contact, theirs))
    assert response.status_code == 400 and not Claim.objects.exists()


def test_import_reports_bad_rows_and_duplicates_without_duplicating(team):
    campaign = make_campaign(team, total_quantity=4)
    data = "code\nA1\nA2\n\nA1\nbad code\n" + "X" * 70 + "\nA3\n"
    report = services.import_codes(campaign, io.BytesIO(data.encode()))
    assert report.imported == 3
    assert [(row, code) for row, code, _note in report.duplicates] == [(5, "A1")]
    assert [row for row, _m in report.errors] == [6, 7]
    again = services.import_codes(campaign, io.BytesIO(b"A3\nA4\nA5\n"))
    assert again.imported == 1 and [code for _r, code, _n in again.duplicates] == ["A3"]
    assert [row for row, _m in again.errors] == [3]  # beyond the total quantity of 4
    assert sorted(CouponCode.objects.values_list("code", flat=True)) == ["A1", "A2", "A3", "A4"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SKIP LOCKED and real concurrency need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_never_share_a_code(team):
    campaign = make_campaign(team)
    services.generate_codes(campaign, 60)
    channel = ChannelFactory(team=team, kind="line")
    contacts = [ContactFactory(channel=channel) for _ in range(80)]
    barrier = threading.Barrier(8)
    results, errors = [], []

    def worker(chunk):
        try:
            barrier.wait()
            for c in chunk:
                results.append(services.claim(campaign, c).status)
                services.claim(campaign, c)  # the same customer again: idempotent
        except Exception as exc:  # noqa: BLE001 - reported below, the test fails on any
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(contacts[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    codes = list(Claim.objects.filter(campaign=campaign).values_list("code", flat=True))
    assert len(codes) == len(set(codes)) == 60 == results.count("claimed")
    assert results.count("exhausted") == 20
    assert CouponCode.objects.filter(campaign=campaign, claimed_at__isnull=True).count() == 0
