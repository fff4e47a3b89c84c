"""Channel budgets (seed 002): LINE quota read before a batch and on a schedule; WhatsApp paid from the balance."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from django_q.models import Schedule

from billing import services as ledger
from billing.models import Transaction
from cdp.tests.factories import ChannelFactory, ContactFactory
from messaging import tasks
from messaging.models import ChannelState
from messaging.services import budgets, outbox

from .fake_platform import FakePlatform

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(settings):
    with FakePlatform() as server:
        settings.MESSAGING_LINE_API_BASE = server.url
        settings.MESSAGING_WHATSAPP_API_BASE = server.url + "/v21.0"
        yield server


def quota(fake, limit, used):
    fake.route("GET", "/v2/bot/message/quota", lambda r: (200, {"type": "limited", "value": limit}, {}))
    fake.route("GET", "/v2/bot/message/quota/consumption", lambda r: (200, {"totalUsage": used}, {}))


@pytest.fixture
def line(team):
    return ChannelFactory(team=team, kind="line", credentials={"access_token": "T", "channel_secret": "s"})


def quota_reads(fake):
    return sum(1 for r in fake.requests if r["path"] == "/v2/bot/message/quota")


def test_line_quota_is_read_before_a_batch_and_not_more_than_once_a_minute(fake, team, line):
    quota(fake, 1000, 999)
    now = timezone.now()
    assert budgets.check_before_batch(line, now) is False
    assert budgets.check_before_batch(line, now + timedelta(seconds=30)) is False
    assert quota_reads(fake) == 1
    quota(fake, 1000, 1000)
    assert budgets.check_before_batch(line, now + timedelta(seconds=61)) is True
    state = ChannelState.objects.get(channel=line)
    assert state.budget_reason == budgets.LINE_LIMIT and state.quota_used == 1000
    quota(fake, 5000, 1000)  # the plan was raised: the flag does not wait for the 1st
    assert budgets.check_before_batch(line, now + timedelta(seconds=130)) is False


def test_an_unreachable_quota_api_keeps_the_last_state(fake, team, line):
    fake.route("GET", "/v2/bot/message/quota", lambda r: (500, {"message": "boom"}, {}))
    assert budgets.check_before_batch(line) is False


def test_the_budget_schedule_exists_and_reads_every_line_channel(fake, team, line):
    tasks.ensure_schedules()
    schedule = Schedule.objects.get(name="messaging: channel budgets")
    assert schedule.func == "messaging.tasks.refresh_channel_budgets" and schedule.minutes == 15
    quota(fake, 10, 10)
    ChannelFactory(team=team, kind="line")  # no token: not asked
    assert tasks.refresh_channel_budgets() == 1
    assert budgets.is_exhausted(line)


def whatsapp_accepts(fake, channel):
    path = f"/v21.0/{channel.external_id}/messages"
    fake.route("POST", path, lambda r: (200, {"messages": [{"id": f"wamid.{len(fake.requests)}"}]}, {}))


def test_whatsapp_prepaid_debits_each_send_and_stops_at_zero_until_a_top_up(fake, team):
    team.whatsapp_prepaid_price = Decimal("0.5")
    team.save(update_fields=["whatsapp_prepaid_price"])
    ledger.credit(team, Decimal("1"), type="top_up", idempotency_key="t1")
    wa = ChannelFactory(team=team, kind="whatsapp", external_id="PN1", credentials={"access_token": "T"})
    whatsapp_accepts(fake, wa)
    for i in range(2):
        outbox.enqueue(
            team=team,
            channel=wa,
            contact=ContactFactory(channel=wa, external_id=f"88690000000{i}"),
            content={"type": "text", "text": "hi"},
            origin="agent",
            origin_id="",
            idempotency_key=f"wa:{i}",
        )
    assert budgets.check_before_batch(wa) is False
    outbox.dispatch()
    debits = Transaction.objects.filter(team=team, type="whatsapp_debit")
    assert debits.count() == 2 and ledger.balance(team) == Decimal("0")
    assert set(debits.values_list("channel", flat=True)) == {"whatsapp"}
    state = ChannelState.objects.get(channel=wa)
    assert state.budget_reason == budgets.PREPAID_ZERO and budgets.is_exhausted(wa)
    ledger.credit(team, Decimal("10"), type="top_up", idempotency_key="t2")
    assert budgets.check_before_batch(wa) is False  # the top-up clears the flag by itself


def test_whatsapp_billed_by_meta_is_not_debited_and_a_success_clears_131042(fake, team):
    wa = ChannelFactory(team=team, kind="whatsapp", external_id="PN2", credentials={"access_token": "T"})
    budgets.mark_exhausted(wa, reason=f"{budgets.WHATSAPP_PAYMENT} 131042")
    assert budgets.check_before_batch(wa) is True  # not prepaid: the balance says nothing
    whatsapp_accepts(fake, wa)
    budgets.clear(wa)  # (an operator retries)
    budgets.mark_exhausted(wa, reason=f"{budgets.WHATSAPP_PAYMENT} 131042")
    budgets.succeeded(wa)
    assert not budgets.is_exhausted(wa)
    assert not Transaction.objects.filter(team=team).exists()


def test_whatsapp_prepaid_send_is_debited_even_below_grace(fake, team):
    """The send already succeeded: its charge is forced, so the ledger keeps the true cost."""
    team.whatsapp_prepaid_price = Decimal("0.5")
    team.save(update_fields=["whatsapp_prepaid_price"])
    ledger.credit(team, Decimal("-3"), type="adjustment", idempotency_key="adj")  # below grace (0)
    wa = ChannelFactory(team=team, kind="whatsapp", external_id="PN1", credentials={"access_token": "T"})
    whatsapp_accepts(fake, wa)
    message, _ = outbox.enqueue(
        team=team,
        channel=wa,
        contact=ContactFactory(channel=wa, external_id="886900000009"),
        content={"type": "text", "text": "hi"},
        origin="agent",
        origin_id="",
        idempotency_key="wa:below",
    )
    budgets.debit_whatsapp(message)
    debit = Transaction.objects.get(team=team, type="whatsapp_debit")
    assert debit.amount == Decimal("-0.5") and ledger.balance(team) == Decimal("-3.5")
