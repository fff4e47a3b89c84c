"""The system trigger 「領取優惠券」 (name coupon_claimed): a claim enrols the customer, for any campaign or one."""

import pytest

from cdp.models import CustomerEvent
from cdp.tests.factories import ContactFactory
from coupons import services as coupons
from coupons.tests.factories import make_campaign
from journeys.models import Enrollment
from journeys.tasks import on_customer_events
from journeys.tests.factories import delay, published_journey

pytestmark = pytest.mark.django_db


def test_claiming_a_coupon_starts_the_journeys_that_wait_for_it(team, line):
    spring, autumn = make_campaign(team, name="春"), make_campaign(team, name="秋")
    for campaign in (spring, autumn):
        coupons.generate_codes(campaign, 2)
    any_coupon = published_journey(
        team, line, [delay(hours=1)], trigger_type="system", trigger_config={"name": "coupon_claimed"}
    )
    autumn_only = published_journey(
        team,
        line,
        [delay(hours=1)],
        trigger_type="system",
        trigger_config={"name": "coupon_claimed", "campaign": autumn.pk},
    )
    contact = ContactFactory(channel=line)
    assert coupons.claim(spring, contact).status == "claimed"
    on_customer_events(team.pk, list(CustomerEvent.objects.values_list("pk", flat=True)))
    assert Enrollment.objects.filter(journey=any_coupon, customer=contact.customer).count() == 1
    assert not Enrollment.objects.filter(journey=autumn_only).exists()
