"""Conditions 「領取優惠券 X」 / 「兌換優惠券 X」: claims of a coupons campaign, for contacts and customers."""

import pytest

from audiences.conditions import compile_q
from audiences.conditions.language import ConditionError
from cdp.models import Contact, Customer, CustomerEvent
from cdp.tests.factories import ChannelFactory, ContactFactory
from coupons import services as coupons
from coupons.tests.factories import make_campaign

pytestmark = pytest.mark.django_db


def test_claimed_and_redeemed_coupon_conditions(team, other_team):
    line = ChannelFactory(team=team, kind="line")
    campaign = make_campaign(team)
    coupons.generate_codes(campaign, 5)
    claimed, redeemed, neither = (ContactFactory(channel=line) for _ in range(3))
    coupons.claim(campaign, claimed)
    result = coupons.claim(campaign, redeemed)
    event = CustomerEvent.objects.create(
        team=team,
        customer_id=redeemed.customer_id,
        type="coupon_redeemed",
        occurred_at=result.claim.claimed_at,
        data={"code": result.claim.code, "order_id": "SO-9"},
    )
    coupons.redeem_from_events(team, [event.pk])

    def tree(op, campaign_id=campaign.pk):
        return {"op": "and", "children": [{"type": "coupon", "op": op, "campaign": campaign_id}]}

    def contacts(op):
        q = compile_q(team, tree(op))
        return set(Contact.objects.for_team(team).filter(q).values_list("pk", flat=True))

    assert contacts("claimed") == {claimed.pk, redeemed.pk}
    assert contacts("redeemed") == {redeemed.pk}
    assert contacts("not_claimed") == {neither.pk}
    assert contacts("not_redeemed") == {claimed.pk, neither.pk}
    q = compile_q(team, tree("redeemed"), base="customer")
    assert list(Customer.objects.for_team(team).filter(q).values_list("pk", flat=True)) == [redeemed.customer_id]
    theirs = make_campaign(other_team)
    with pytest.raises(ConditionError):
        compile_q(team, tree("claimed", theirs.pk))
    with pytest.raises(ConditionError):
        compile_q(team, tree("used"))
