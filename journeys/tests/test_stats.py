"""Statistics definitions (seed 002 / 003) on a hand-computed fixture."""

import datetime as dt
from decimal import Decimal

import pytest

from cdp.models import Order
from cdp.tests.factories import ChannelFactory, ContactFactory
from journeys import stats
from journeys.models import Enrollment, EnrollmentStep
from journeys.tests.factories import enroll_directly, message, published_journey
from messaging.services.outbox import send_cost
from messaging.tests.factories import OutboundMessageFactory

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 5, 1, 4, 0, tzinfo=dt.UTC)


def _send(journey, enrollment, node_id, *, status="delivered", sent_at=T0, **fields):
    """A journey send as the outbox records it (with its cost when it succeeded)."""
    channel = enrollment.contact.channel
    cost, currency = send_cost(channel) if status != "failed" else (Decimal(0), "")
    message = OutboundMessageFactory(
        team=journey.team,
        contact=enrollment.contact,
        channel=channel,
        origin="journey",
        cost=cost,
        cost_currency=currency,
        origin_id=str(journey.pk),
        status=status,
        trackable=True,  # a LINE text-with-buttons module: opens are trackable (seed 003)
        sent_at=sent_at if status != "failed" else None,
        **fields,
    )
    EnrollmentStep.objects.create(
        team=journey.team,
        enrollment=enrollment,
        version=enrollment.version,
        node=node_id,
        node_type="message",
        outcome="sent",
        message_id=message.pk,
    )
    return message


def _order(customer, order_id, amount, at):
    return Order.objects.create(
        team=customer.team, customer=customer, order_id=order_id, amount=Decimal(amount), currency="TWD", occurred_at=at
    )


def test_overview_and_node_statistics_match_the_hand_computed_figures(team, module):
    line = ChannelFactory(team=team, kind="line")  # a real LINE channel: its sends are priced
    j1 = published_journey(team, line, [message(line, module)])
    j2 = published_journey(team, line, [message(line, module)])
    node1 = j1.current_version.graph["nodes"][0]["id"]
    node2 = j2.current_version.graph["nodes"][0]["id"]
    a, b, c, d = (ContactFactory(channel=line) for _ in range(4))
    ea, eb, ec, ed = (enroll_directly(j1, contact) for contact in (a, b, c, d))
    Enrollment.objects.filter(pk__in=[ea.pk, eb.pk, ec.pk]).update(state="completed")  # 3 of 4 completed
    # j1 sends: A opened+clicked, B replied, C failed.
    _send(j1, ea, node1, status="read", opened_at=T0, clicked_at=T0)
    _send(j1, eb, node1, status="delivered", sent_at=T0, replied_at=T0 + dt.timedelta(hours=1))
    _send(j1, ec, node1, status="failed")
    # j2 touches A one day later: A's later order is j2's (last touch).
    e2 = enroll_directly(j2, a)
    _send(j2, e2, node2, status="delivered", sent_at=T0 + dt.timedelta(days=1))
    _order(b.customer, "B-1", "500", T0 + dt.timedelta(days=3))  # j1: within 7 days of B's send
    _order(b.customer, "B-2", "900", T0 + dt.timedelta(days=8))  # outside the window: nobody's
    _order(a.customer, "A-1", "1000", T0 + dt.timedelta(days=2))  # last touch = j2
    _order(a.customer, "A-0", "70", T0 - dt.timedelta(hours=1))  # before any send: nobody's
    _order(c.customer, "C-1", "300", T0 + dt.timedelta(days=1))  # C's send failed: nobody's
    stats.refresh_team(team, now=T0 + dt.timedelta(days=10))

    o1 = stats.overview(j1)
    assert o1["triggers"] == 4
    assert o1["completions"] == 3 and o1["completion_rate"] == 0.75
    assert o1["messages"] == 3 and o1["successful"] == 2
    assert o1["cost"] == {"TWD": Decimal("0.4")} and o1["simulated"] == 0  # 2 successful LINE sends × NT$0.2
    assert o1["revenue"] == Decimal("500") and o1["orders"] == 1
    assert o1["roas"] == Decimal("1250")  # 500 / 0.4
    o2 = stats.overview(j2)
    assert (o2["revenue"], o2["orders"], o2["roas"]) == (Decimal("1000"), 1, Decimal("5000"))

    node = stats.node_stats(j1.current_version)[node1]
    assert node["channel_kind"] == "line"
    assert node["sent"] == 2  # successful sends are the denominator
    assert (node["opens"], float(node["open_rate"])) == (1, 0.5)
    assert (node["replies"], float(node["reply_rate"])) == (1, 0.5)
    assert (node["clicks"], float(node["ctr"])) == (1, 0.5)
    live = stats.node_counts(j1.current_version)
    assert live[node1] == {"reached": 3, "waiting": 1}


def test_holdout_lift(team, line, module):
    j = published_journey(team, line, [message(line, module)])
    treated = [enroll_directly(j, ContactFactory(channel=line)) for _ in range(2)]
    held = [enroll_directly(j, ContactFactory(channel=line), holdout=True) for _ in range(2)]
    Enrollment.objects.filter(journey=j).update(entered_at=T0)
    _order(treated[0].customer, "T1", "300", T0 + dt.timedelta(days=1))
    _order(held[0].customer, "H1", "100", T0 + dt.timedelta(days=1))
    _order(held[1].customer, "H2", "100", T0 + dt.timedelta(days=9))  # outside the window
    stats.refresh_team(team, now=T0 + dt.timedelta(days=10))
    lift = stats.overview(j, j.current_version)["holdout"]
    assert lift["treated"]["per_entrant"] == "150.00" and lift["holdout"]["per_entrant"] == "50.00"
    assert lift["lift"] == "2.0000"


def test_sandbox_sends_cost_nothing_and_are_labelled_simulated(team, line, module, console):
    """Issue 23.8: the sandbox only simulates sends; the journey's cost estimate (and so its ROAS) counts none."""
    journey = published_journey(team, line, [message(line, module)])
    node = journey.current_version.graph["nodes"][0]["id"]
    a, b = (ContactFactory(channel=line) for _ in range(2))
    for contact in (a, b):
        _send(journey, enroll_directly(journey, contact), node, status="delivered")
    _order(a.customer, "A-1", "1000", T0 + dt.timedelta(days=1))
    stats.refresh_team(team, now=T0 + dt.timedelta(days=10))
    overview = stats.overview(journey)
    assert (overview["successful"], overview["simulated"]) == (2, 2)
    assert overview["cost"] == {} and overview["roas"] is None and overview["revenue"] == Decimal("1000")
    assert stats.node_stats(journey.current_version)[node]["simulated"] == 2
    page = console.get(f"/journeys/{journey.pk}/statistics/", HTTP_ACCEPT_LANGUAGE="zh-hant").content.decode()
    assert "含 2 則沙盒模擬發送，不計費" in page
