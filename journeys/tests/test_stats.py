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


def _order(customer, order_id, amount, at, currency="TWD"):
    return Order.objects.create(
        team=customer.team,
        customer=customer,
        order_id=order_id,
        amount=Decimal(amount),
        currency=currency,
        occurred_at=at,
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
    # j2 reaches A one day later, A does not click it: A's order stays with j1's click (issue 24.4).
    e2 = enroll_directly(j2, a)
    _send(j2, e2, node2, status="delivered", sent_at=T0 + dt.timedelta(days=1))
    _order(b.customer, "B-1", "500", T0 + dt.timedelta(days=3))  # B never clicked: view-through of j1 only
    _order(b.customer, "B-2", "900", T0 + dt.timedelta(days=8))  # outside the window: nobody's
    _order(a.customer, "A-1", "1000", T0 + dt.timedelta(days=2))  # A clicked j1 2 days before: j1's
    _order(a.customer, "A-0", "70", T0 - dt.timedelta(hours=1))  # before any send: nobody's
    _order(c.customer, "C-1", "300", T0 + dt.timedelta(days=1))  # C's send failed: nobody's
    stats.refresh_team(team, now=T0 + dt.timedelta(days=10))

    o1 = stats.overview(j1)
    assert o1["triggers"] == 4
    assert o1["completions"] == 3 and o1["completion_rate"] == 0.75
    assert o1["messages"] == 3 and o1["successful"] == 2
    assert o1["cost"] == {"TWD": Decimal("0.4")} and o1["simulated"] == 0  # 2 successful LINE sends × NT$0.2
    assert o1["revenue"] == {"TWD": {"amount": Decimal("1000"), "orders": 1}} and o1["orders"] == 1
    assert o1["view_through"] == {"TWD": {"amount": Decimal("500"), "orders": 1}}
    assert o1["roas"] == stats.Roas(2500.0, "TWD")  # 1000 / 0.4
    o2 = stats.overview(j2)
    assert (o2["revenue"], o2["orders"], o2["view_through"]) == ({}, 0, {})  # A-1 is j1's click, not j2's view
    assert o2["roas"] == stats.Roas(0.0, "TWD")  # NT$0.2 spent, nothing driven

    node = stats.node_stats(j1.current_version)[node1]
    assert node["channel_kind"] == "line"
    assert node["sent"] == 2  # successful sends are the denominator
    assert (node["opens"], float(node["open_rate"])) == (1, 0.5)
    assert (node["replies"], float(node["reply_rate"])) == (1, 0.5)
    assert (node["clicks"], float(node["ctr"])) == (1, 0.5)
    live = stats.node_counts(j1.current_version)
    assert live[node1] == {"reached": 3, "waiting": 1}


def _clicked(journey, contact, node_id, *, sent_at, clicked_at=None, **fields):
    return _send(journey, enroll_directly(journey, contact), node_id, sent_at=sent_at, clicked_at=clicked_at, **fields)


@pytest.fixture
def two_currencies(team, module):
    """The hand-computed attribution case (issue 24.4): window 7 days, LINE costs TWD 0.2, WhatsApp HKD 0.5.

    j1 (LINE): A, B, D sent at T0, each clicked at T0+1h → cost TWD 0.6.
    j2 (WhatsApp): B clicked at T0+1d+1h, C not clicked, E clicked at T0+2h → cost HKD 1.5.
    Orders:  A-1 TWD 1000 at T0+2d     A's click on j1 1 day 23 h before            → j1 revenue
             A-2 TWD 400  at T0+8d     7 days 23 h after A's click, 8 days after send → nobody's
             B-1 HKD 300  at T0+2d     clicks on j1 (T0+1h) and j2 (T0+1d+1h)         → j2 (last click wins)
             C-1 TWD 200  at T0+1d     C got j2 but never clicked                      → j2 view-through only
             D-0 TWD 50   at T0+30min  D clicked j1 only after ordering               → j1 view-through only
             E-1 TWD 1500 at T0+3d     E clicked j2                                   → j2 revenue
    j1: revenue TWD 1000 (1 order), cost TWD 0.6 → ROAS 1666.6667× (one currency).
    j2: revenue HKD 300 + TWD 1500 (2 orders), cost HKD 1.5 → no ROAS without an HKD rate; with HKD = 4 TWD:
        (300 × 4 + 1500) / (1.5 × 4) = 2700 / 6 = 450×, in TWD.
    """
    line = ChannelFactory(team=team, kind="line")
    whatsapp = ChannelFactory(team=team, kind="whatsapp")
    j1 = published_journey(team, line, [message(line, module)])
    j2 = published_journey(team, whatsapp, [message(whatsapp, module)])
    n1 = j1.current_version.graph["nodes"][0]["id"]
    n2 = j2.current_version.graph["nodes"][0]["id"]
    a, b, d = (ContactFactory(channel=line) for _ in range(3))
    b_wa = ContactFactory(channel=whatsapp, customer=b.customer)
    c, e = (ContactFactory(channel=whatsapp) for _ in range(2))
    hour, day = dt.timedelta(hours=1), dt.timedelta(days=1)
    for contact in (a, b, d):
        _clicked(j1, contact, n1, sent_at=T0, clicked_at=T0 + hour)
    _clicked(j2, b_wa, n2, sent_at=T0 + day, clicked_at=T0 + day + hour)
    _clicked(j2, c, n2, sent_at=T0, status="read", read_at=T0 + hour)
    _clicked(j2, e, n2, sent_at=T0, clicked_at=T0 + 2 * hour)
    _order(a.customer, "A-1", "1000", T0 + 2 * day)
    _order(a.customer, "A-2", "400", T0 + 8 * day)
    _order(b.customer, "B-1", "300", T0 + 2 * day, currency="HKD")
    _order(c.customer, "C-1", "200", T0 + day)
    _order(d.customer, "D-0", "50", T0 + hour / 2)
    _order(e.customer, "E-1", "1500", T0 + 3 * day)
    stats.refresh_team(team, now=T0 + 10 * day)
    return j1, j2


def test_click_attribution_hand_computed(team, two_currencies):
    j1, j2 = two_currencies
    o1, o2 = stats.overview(j1), stats.overview(j2)
    assert o1["revenue"] == {"TWD": {"amount": Decimal("1000"), "orders": 1}} and o1["orders"] == 1
    assert o1["view_through"] == {"TWD": {"amount": Decimal("50"), "orders": 1}}
    assert o1["cost"] == {"TWD": Decimal("0.6")}
    assert o1["roas"] == stats.Roas(1666.6667, "TWD")
    assert o2["revenue"] == {
        "HKD": {"amount": Decimal("300"), "orders": 1},
        "TWD": {"amount": Decimal("1500"), "orders": 1},
    }
    assert o2["orders"] == 2
    assert o2["view_through"] == {"TWD": {"amount": Decimal("200"), "orders": 1}}
    assert o2["cost"] == {"HKD": Decimal("1.5")}
    assert o2["roas"].multiple is None and o2["roas"].reason_code == "no_exchange_rate"
    assert "HKD" in o2["roas"].reason and "TWD" in o2["roas"].reason

    team.exchange_rates = {"HKD": "4"}
    team.save(update_fields=["exchange_rates"])
    j2.team.refresh_from_db()
    assert stats.overview(j2)["roas"] == stats.Roas(450.0, "TWD", converted=True)


def test_a_longer_window_reaches_the_later_order(team, two_currencies):
    """A-2 came 7 days 23 h after A's click: a 10-day window (team setting) counts it for j1."""
    j1, _j2 = two_currencies
    team.attribution_window_days = 10
    team.save(update_fields=["attribution_window_days"])
    stats.refresh_team(team, now=T0 + dt.timedelta(days=10))
    assert stats.overview(j1)["revenue"] == {"TWD": {"amount": Decimal("1400"), "orders": 2}}


def test_roas_rules(team):
    """Never adding two currencies: one currency → that; several → the team's rates, or none with the reason."""
    assert stats.roas(team, {"TWD": Decimal("100")}, {}).reason_code == "no_cost"
    assert stats.roas(team, {}, {"HKD": Decimal("2")}) == stats.Roas(0.0, "HKD")
    assert stats.roas(team, {"TWD": Decimal("10")}, {"TWD": Decimal("4")}) == stats.Roas(2.5, "TWD")
    missing = stats.roas(team, {"TWD": Decimal("10")}, {"TWD": Decimal("1"), "HKD": Decimal("1")})
    assert missing.multiple is None and missing.reason_code == "no_exchange_rate"
    team.exchange_rates = {"HKD": "4.0", "USD": "32"}
    assert stats.roas(team, {"USD": Decimal("1")}, {"TWD": Decimal("4"), "HKD": Decimal("1")}) == stats.Roas(
        4.0, "TWD", converted=True
    )  # 32 / (4 + 4)


def test_statistics_api_returns_what_the_console_shows(team, two_currencies, api, console, other_api):
    """Issue 24.6: per-node figures with seed 003's denominators, money as decimal strings per currency, ROAS a
    number or null with its reason; the console page shows the same figures (one service function)."""
    _j1, j2 = two_currencies
    body = api.get(f"/api/v1/journeys/{j2.pk}/statistics").json()
    assert body["revenue"] == [
        {"amount": "300.00", "currency": "HKD", "orders": 1},
        {"amount": "1500.00", "currency": "TWD", "orders": 1},  # never "1.5E+3"
    ]
    assert body["orders"] == 2
    assert body["view_through"] == [{"amount": "200.00", "currency": "TWD", "orders": 1}]
    assert body["cost"] == [{"amount": "1.50", "currency": "HKD"}]
    assert body["roas"]["multiple"] is None and body["roas"]["reason_code"] == "no_exchange_rate"
    assert body["roas"]["reason"] and body["refreshed_at"] and body["attribution_window_days"] == 7
    (node_id,) = body["nodes"]
    node = body["nodes"][node_id]
    assert (node["type"], node["reached"], node["waiting"]) == ("message", 3, 3)
    figures = node["message"]
    assert figures["platform"] == "whatsapp" and figures["successful_sends"] == 3
    assert (figures["reads"], figures["read_rate"]) == (1, 0.3333)  # C read it: 1 / 3 successful sends
    assert (figures["opens"], figures["open_rate"]) == (None, None)  # LINE only
    assert (figures["clicks"], figures["ctr"]) == (2, 0.6667)
    assert (figures["replies"], figures["reply_rate"]) == (0, 0.0)
    assert figures["cost"] == [{"amount": "1.50", "currency": "HKD"}] and figures["refreshed_at"]

    team.exchange_rates = {"HKD": "4"}
    team.save(update_fields=["exchange_rates"])
    roas = api.get(f"/api/v1/journeys/{j2.pk}/statistics").json()["roas"]
    assert roas == {"multiple": 450.0, "currency": "TWD", "converted": True, "reason_code": None, "reason": None}

    page = console.get(f"/journeys/{j2.pk}/statistics/", HTTP_ACCEPT_LANGUAGE="zh-hant").content.decode()
    assert "HKD 300" in page and "NT$1,500" in page and "HKD 1.50" in page  # issue 20.13: money with its currency
    assert "450×" in page and "33.3%" in page and "66.7%" in page

    assert other_api.get(f"/api/v1/journeys/{j2.pk}/statistics").status_code == 404  # team B cannot read it


def test_statistics_api_version_parameter(team, two_currencies, api):
    _j1, j2 = two_currencies
    version = j2.current_version
    body = api.get(f"/api/v1/journeys/{j2.pk}/statistics", {"version": version.pk}).json()
    assert body["version"] == version.pk and body["orders"] == 2
    for bad in ("abc", "99999999", str(_j1.current_version.pk)):
        response = api.get(f"/api/v1/journeys/{j2.pk}/statistics", {"version": bad})
        assert response.status_code == 400 and "version" in response.json()["error"]["fields"]


def test_roas_without_a_rate_is_shown_as_a_dash_with_the_reason(team, two_currencies, console):
    _j1, j2 = two_currencies
    page = console.get(f"/journeys/{j2.pk}/statistics/", HTTP_ACCEPT_LANGUAGE="zh-hant").content.decode()
    assert 'data-kpi="roas">—' in page
    assert "請在團隊設定填入 HKD 對 TWD 的匯率" in page
    assert "瀏覽後轉換（未點擊，不計入營業額）" in page


def test_holdout_lift(team, line, module, console):
    j = published_journey(team, line, [message(line, module)])
    treated = [enroll_directly(j, ContactFactory(channel=line)) for _ in range(2)]
    held = [enroll_directly(j, ContactFactory(channel=line), holdout=True) for _ in range(2)]
    Enrollment.objects.filter(journey=j).update(entered_at=T0)
    _order(treated[0].customer, "T1", "300", T0 + dt.timedelta(days=1))
    _order(held[0].customer, "H1", "100", T0 + dt.timedelta(days=1))
    _order(held[1].customer, "H2", "100", T0 + dt.timedelta(days=9))  # outside the window
    stats.refresh_team(team, now=T0 + dt.timedelta(days=10))
    lift = stats.overview(j, j.current_version)["holdout"]
    assert lift["treated"]["per_entrant"] == {"TWD": "150.00"} and lift["holdout"]["per_entrant"] == {"TWD": "50.00"}
    assert lift["lift"] == {"TWD": "2.0000"}
    version = j.current_version.pk
    page = console.get(f"/journeys/{j.pk}/statistics/?version={version}", HTTP_ACCEPT_LANGUAGE="zh-hant")
    assert "營收提升 TWD 200.0%" in page.content.decode()


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
    assert overview["cost"] == {} and overview["roas"].reason_code == "no_cost"
    assert overview["view_through"] == {"TWD": {"amount": Decimal("1000"), "orders": 1}}  # A never clicked
    assert stats.node_stats(journey.current_version)[node]["simulated"] == 2
    page = console.get(f"/journeys/{journey.pk}/statistics/", HTTP_ACCEPT_LANGUAGE="zh-hant").content.decode()
    assert "含 2 則沙盒模擬發送，不計費" in page
