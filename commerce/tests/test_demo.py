import datetime
import random

import pytest

from cdp.models import Order as CheckoutOrder
from cdp.tests.factories import ChannelFactory, ContactFactory
from commerce import demo
from commerce.models import Order, OrderTransition
from commerce.statemachine import OrderStatus

pytestmark = pytest.mark.django_db


def test_the_demo_team_has_orders_in_every_status(team, settings):
    for kind in ("line", "whatsapp"):
        channel = ChannelFactory(team=team, kind=kind, is_sandbox=True)
        for _ in range(3):
            ContactFactory(channel=channel)
    now = datetime.datetime(2026, 12, 3, tzinfo=datetime.UTC)
    for _run in range(2):  # rebuilt, not doubled
        demo.seed(team, random.Random("1:commerce"), now=now)
    statuses = set(Order.objects.filter(team=team).values_list("status", flat=True))
    assert statuses == set(OrderStatus.values)
    assert Order.objects.filter(team=team).count() == len(demo.PLAN)
    paid = Order.objects.filter(team=team, status__in=["paid", "fulfilled"])
    assert CheckoutOrder.objects.filter(team=team, order_id__in=paid.values("number")).count() == paid.count()
    assert OrderTransition.objects.filter(team=team, to_status="fulfilled").count() == 1
