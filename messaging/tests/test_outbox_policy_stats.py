from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from cdp.tests.factories import ChannelFactory, ContactFactory
from messaging import policy, stats
from messaging.models import OutboundMessage
from messaging.services import budgets, outbox, tracking

from .factories import ChatbotModuleFactory, OutboundMessageFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox(team):
    return ChannelFactory(team=team, kind="line", is_sandbox=True)


def test_enqueue_is_idempotent_and_dispatch_sends_once(team, sandbox):
    contact = ContactFactory(channel=sandbox)
    content = {"type": "text", "text": "hello"}
    kwargs = dict(team=team, channel=sandbox, contact=contact, content=content, origin="journey", origin_id="n1")
    m1, created1 = outbox.enqueue(idempotency_key="j:1:n1", **kwargs)
    m2, created2 = outbox.enqueue(idempotency_key="j:1:n1", **kwargs)
    assert created1 and not created2 and m1.pk == m2.pk
    assert outbox.dispatch() == 1
    m1.refresh_from_db()
    assert m1.status in ("sent", "delivered", "read")
    assert m1.sent_at and m1.cost == 0 and m1.cost_currency == ""  # simulated: nothing to pay (issue 23.8)
    contact.refresh_from_db()
    assert contact.last_team_marketing_at is not None
    assert outbox.dispatch() == 0


def test_sandbox_sends_cost_nothing_and_are_reported_as_simulated(team, sandbox, api):
    """Issue 23.8: a demo broadcast through the sandbox was charged the team's LINE price per send."""
    contacts = [ContactFactory(channel=sandbox) for _ in range(3)]
    args = dict(team=team, channel=sandbox, content={"type": "text", "text": "x"}, origin="broadcast", origin_id=7)
    outbox.enqueue_many(contacts_or_ids=contacts, key_prefix="b:7", **args)
    priced = OutboundMessageFactory(contact=ContactFactory(team=team, channel=ChannelFactory(team=team, kind="line")))
    outbox.dispatch()
    assert outbox.send_cost(priced.channel) == (Decimal("0.2"), "TWD")
    assert set(OutboundMessage.objects.filter(channel=sandbox).values_list("cost", "cost_currency")) == {(0, "")}
    result = stats.summarize(OutboundMessage.objects.filter(channel=sandbox))
    assert (result["sent"], result["simulated"], result["cost"]) == (3, 3, 0)
    response = api.get("/api/v1/messages/stats", {"channel": sandbox.pk}).json()
    assert (response["simulated"], Decimal(response["cost"])) == (3, 0)
    assert api.get("/api/v1/messages/stats", {"channel": priced.channel_id}).json()["simulated"] == 0


def test_enqueue_many_ignores_duplicates(team, sandbox):
    contacts = [ContactFactory(channel=sandbox) for _ in range(3)]
    args = dict(team=team, channel=sandbox, content={"type": "text", "text": "x"}, origin="broadcast", origin_id=7)
    assert outbox.enqueue_many(contacts_or_ids=contacts, key_prefix="b:7", **args) == 3
    assert outbox.enqueue_many(contacts_or_ids=[c.pk for c in contacts], key_prefix="b:7", **args) == 0
    assert OutboundMessage.objects.filter(team=team).count() == 3


def test_expired_claim_is_swept_and_sent_once(team, sandbox):
    contact = ContactFactory(channel=sandbox)
    message, _ = outbox.enqueue(
        team=team,
        channel=sandbox,
        contact=contact,
        content={"type": "text", "text": "x"},
        origin="agent",
        origin_id="",
        idempotency_key="a:1",
    )
    claimed = outbox.claim()  # the worker claims, then "dies" before calling the provider
    assert [m.pk for m in claimed] == [message.pk]
    first_retry_key = claimed[0].retry_key
    assert first_retry_key
    assert outbox.dispatch() == 0  # still claimed: nobody else sends it
    later = timezone.now() + timedelta(hours=1)
    assert outbox.sweep(now=later) == 1
    assert outbox.dispatch(now=later) == 1
    message.refresh_from_db()
    assert message.status != "queued" and message.attempts == 2
    assert message.retry_key == first_retry_key  # the second attempt lets the platform drop a duplicate


def test_deleted_module_fails_permanently(team, sandbox):
    module = ChatbotModuleFactory(team=team, deleted_at=timezone.now())
    contact = ContactFactory(channel=sandbox)
    message, _ = outbox.enqueue(
        team=team,
        channel=sandbox,
        contact=contact,
        content={"type": "module", "module_id": module.pk},
        origin="journey",
        origin_id="n",
        idempotency_key="k",
    )
    outbox.dispatch()
    message.refresh_from_db()
    assert message.status == "failed" and message.error_code == "module_deleted"


def test_policy_rules(team):
    now = datetime(2024, 5, 1, 14, 0, tzinfo=UTC)  # 22:00 in Asia/Taipei
    line = ChannelFactory(team=team, kind="line")
    wa = ChannelFactory(team=team, kind="whatsapp")
    fb = ChannelFactory(team=team, kind="facebook")
    text = {"type": "text", "text": "x"}
    assert policy.check_send(contact=ContactFactory(channel=line), content=text, now=now).action == "send"
    assert (
        policy.check_send(contact=ContactFactory(channel=line, status="blocked"), content=text, now=now).reason
        == "blocked"
    )
    unsub = ContactFactory(channel=line, unsubscribed_broadcast=True, status="unsubscribed")
    assert policy.check_send(contact=unsub, content=text, now=now).action == "skip"
    assert (
        policy.check_send(contact=ContactFactory(channel=line, is_over_quota=True), content=text, now=now).action
        == "skip"
    )
    stale = ContactFactory(channel=wa, last_customer_interaction_at=now - timedelta(hours=25))
    decision = policy.check_send(contact=stale, content=text, now=now)
    assert decision.action == "skip" and decision.reason == "needs a template"
    assert (
        policy.check_send(contact=stale, content={"type": "whatsapp_template", "template_id": 1}, now=now).action
        == "send"
    )
    fresh = ContactFactory(channel=wa, last_customer_interaction_at=now - timedelta(hours=23))
    assert policy.check_send(contact=fresh, content=text, now=now).action == "send"
    assert policy.check_send(contact=ContactFactory(channel=fb), content=text, now=now).action == "skip"
    # DND 21:00–24:00 + 00:00–08:00 (over midnight as two segments) → defer until 08:00 Taipei = 00:00 UTC
    decision = policy.check_send(
        contact=ContactFactory(channel=line),
        content=text,
        now=now,
        dnd_segments=[("21:00", "24:00"), ("00:00", "08:00")],
    )
    assert decision.action == "defer" and decision.until == datetime(2024, 5, 2, 0, 0, tzinfo=UTC)
    budgets.mark_exhausted(line, reason="LINE monthly limit reached")
    assert (
        policy.check_send(contact=ContactFactory(channel=line), content=text, now=timezone.now()).reason
        == "budget_exhausted"
    )


def test_summarize_follows_seed_003(team):
    line = ChannelFactory(team=team, kind="line")
    contact = ContactFactory(channel=line)
    t0 = timezone.now() - timedelta(hours=30)
    sends = [
        OutboundMessageFactory(contact=contact, sent_at=t0, trackable=True, cost=Decimal("0.2"), cost_currency="TWD"),
        OutboundMessageFactory(
            contact=contact, sent_at=t0 + timedelta(hours=10), trackable=True, cost=Decimal("0.2"), cost_currency="TWD"
        ),
        OutboundMessageFactory(
            contact=contact, sent_at=t0 + timedelta(hours=20), trackable=False, cost=Decimal("0.2"), cost_currency="TWD"
        ),
    ]
    OutboundMessageFactory(contact=contact, status="failed", sent_at=None, error_reason="blocked")
    # One customer message 26 h after the first send: replies to the 2nd and 3rd (within 24 h), not the 1st.
    assert tracking.record_replies(team_id=team.pk, contact_id=contact.pk, at=t0 + timedelta(hours=26)) == 2
    # A second message does not count those sends twice.
    assert tracking.record_replies(team_id=team.pk, contact_id=contact.pk, at=t0 + timedelta(hours=27)) == 0
    sends[0].links = {"urls": ["https://x.example"], "images": ["pixel"]}
    sends[0].save()
    tracking.record_open(sends[0].pk)
    tracking.record_open(sends[0].pk)
    tracking.record_open(sends[2].pk)  # not trackable: not counted
    assert tracking.record_click(sends[0].pk, 0) == "https://x.example"
    tracking.record_click(sends[0].pk, 0)
    result = stats.summarize(OutboundMessage.objects.filter(team=team))
    assert result["sent"] == 3 and result["failed"] == 1 and result["failures_by_reason"] == {"blocked": 1}
    assert result["replies"] == 2 and result["reply_rate"] == round(2 / 3, 4)
    assert result["opens"] == 1 and result["open_rate"] == round(1 / 3, 4)
    assert result["clicks"] == 1 and result["ctr"] == round(1 / 3, 4)
    assert (result["cost"], result["cost_currency"]) == (Decimal("0.6"), "TWD")
    assert result["reads"] == 0 and result["read_rate"] == 0.0


def test_cost_is_never_one_sum_over_currencies(team, api):
    """A LINE send in TWD and a WhatsApp send in HKD: no single cost, one amount per currency (issue 24.4)."""
    line = ContactFactory(channel=ChannelFactory(team=team, kind="line"))
    whatsapp = ContactFactory(channel=ChannelFactory(team=team, kind="whatsapp"))
    OutboundMessageFactory(contact=line, sent_at=timezone.now(), cost=Decimal("0.2"), cost_currency="TWD")
    OutboundMessageFactory(contact=whatsapp, sent_at=timezone.now(), cost=Decimal("0.5"), cost_currency="HKD")
    result = stats.summarize(OutboundMessage.objects.filter(team=team))
    assert result["cost"] is None and result["cost_currency"] == ""
    assert result["cost_by_currency"] == {"HKD": Decimal("0.5"), "TWD": Decimal("0.2")}
    response = api.get("/api/v1/messages/stats").json()
    assert response["cost"] is None
    assert {k: Decimal(v) for k, v in response["cost_by_currency"].items()} == {
        "HKD": Decimal("0.5"),
        "TWD": Decimal("0.2"),
    }


@pytest.mark.parametrize("end", ["23:59", "24:00"])
@pytest.mark.parametrize(
    "local",
    [
        datetime(2024, 5, 1, 22, 0),
        datetime(2024, 5, 1, 23, 58, 59),
        datetime(2024, 5, 1, 23, 59, 0),  # the minute a literal 23:59 end would leave open
        datetime(2024, 5, 1, 23, 59, 59),
        datetime(2024, 5, 2, 0, 0),
        datetime(2024, 5, 2, 7, 59, 59),
    ],
)
def test_dnd_over_midnight_has_no_one_minute_hole(team, local, end):
    """22:00–23:59 plus 00:00–08:00 (journeys' way of writing a night) covers the whole night, as in journeys:
    an end of 23:59 is the end of the day."""
    from zoneinfo import ZoneInfo

    taipei = ZoneInfo("Asia/Taipei")
    now = local.replace(tzinfo=taipei)
    until = policy.dnd_until(now, [("22:00", end), ("00:00", "08:00")], taipei)
    assert until == datetime(2024, 5, 2, 8, 0, tzinfo=taipei)


def test_dnd_edges_and_a_segment_starting_at_2359(team):
    from zoneinfo import ZoneInfo

    taipei = ZoneInfo("Asia/Taipei")
    night = [("22:00", "23:59"), ("00:00", "08:00")]
    assert policy.dnd_until(datetime(2024, 5, 1, 21, 59, 59, tzinfo=taipei), night, taipei) is None
    assert policy.dnd_until(datetime(2024, 5, 2, 8, 0, tzinfo=taipei), night, taipei) is None
    # Only an END of 23:59 means the end of the day; a segment starting at 23:59 starts at 23:59.
    late = [("23:59", "24:00")]
    assert policy.dnd_until(datetime(2024, 5, 1, 12, 0, tzinfo=taipei), late, taipei) is None
    assert policy.dnd_until(datetime(2024, 5, 1, 23, 59, 30, tzinfo=taipei), late, taipei) == datetime(
        2024, 5, 2, 0, 0, tzinfo=taipei
    )
