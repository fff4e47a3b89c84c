"""Issue 24.10 / seed 001: each unsubscribe scope has its own effect, decided by ONE rule (cdp.models.receiving_q
and its one-row form Contact.not_receiving_reason) that audiences, broadcasts and journeys all use."""

import datetime as dt
import itertools

import pytest

from audiences import services
from audiences.models import BroadcastRecipient, BroadcastStatus
from audiences.tests.factories import AudiencePackFactory, BroadcastFactory
from cdp.models import Contact, SubscriptionStatus, UnsubscribeScope
from cdp.services.contacts import set_unsubscribed
from cdp.tests.factories import ChannelFactory, ContactFactory
from messaging.policy import check_send

pytestmark = pytest.mark.django_db

SEND_AT = dt.datetime(2024, 9, 19, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def people(team):
    """One contact per scope unsubscribed (through the service, as the console does), and one still subscribed."""
    line = ChannelFactory(team=team, kind="line", is_sandbox=True)
    made = {}
    for name in ("web_push", "cart_remarketing", "broadcast", "none"):
        contact = ContactFactory(channel=line)
        if name != "none":
            contact, _changed = set_unsubscribed(contact, scope=name, occurred_at=SEND_AT - dt.timedelta(days=1))
        made[name] = contact
    return line, made


def test_only_the_broadcast_scope_leaves_a_contact_out_of_audiences(team, people):
    line, made = people
    pack = AudiencePackFactory(team=team, channel=line)
    audience = set(services.audience(team=team, channel=line, conditions=pack.conditions).values_list("pk", flat=True))
    assert audience == {made["web_push"].pk, made["cart_remarketing"].pk, made["none"].pk}
    assert services.count_audience(team=team, channel=line, conditions=pack.conditions) == 3
    # ... while any unsubscribe still lowers 有效聯絡人
    assert list(Contact.objects.for_team(team).valid()) == [made["none"]]
    assert made["web_push"].status == SubscriptionStatus.UNSUBSCRIBED


def test_each_scope_leaves_out_exactly_its_own_messages(team, people):
    _line, made = people
    for scope in UnsubscribeScope.values:
        receiving = set(Contact.objects.for_team(team).receiving(scope).values_list("pk", flat=True))
        assert receiving == {c.pk for name, c in made.items() if name != scope}, scope


def test_journey_messages_use_the_same_rule(team, people):
    """Journeys (and broadcasts' send batches) decide through messaging.policy.check_send."""
    _line, made = people
    skipped = {
        name
        for name, contact in made.items()
        if check_send(contact=contact, content={"type": "module"}, now=SEND_AT).action == "skip"
    }
    assert skipped == {"broadcast"}
    assert check_send(contact=made["web_push"], content={}, now=SEND_AT, scope="web_push").reason == "unsubscribed"


def test_queryset_rule_and_one_row_rule_agree_on_every_combination(team):
    line = ChannelFactory(team=team, kind="line")
    contacts = []
    for status, broadcast, web_push, cart, over in itertools.product(SubscriptionStatus.values, *([(False, True)] * 4)):
        contacts.append(
            ContactFactory(
                channel=line,
                status=status,
                unsubscribed_broadcast=broadcast,
                unsubscribed_web_push=web_push,
                unsubscribed_cart_remarketing=cart,
                is_over_quota=over,
            )
        )
    for scope in UnsubscribeScope.values:
        in_sql = set(Contact.objects.for_team(team).receiving(scope).values_list("pk", flat=True))
        in_python = {c.pk for c in contacts if c.not_receiving_reason(scope) == ""}
        assert in_sql == in_python, scope
    reachable = set(Contact.objects.for_team(team).reachable().values_list("pk", flat=True))
    assert reachable == set(Contact.objects.for_team(team).receiving("broadcast").values_list("pk", flat=True))


def test_a_broadcast_reaches_contacts_unsubscribed_only_from_other_scopes(team, people):
    from messaging.models import ChatbotModule, OutboundMessage

    line, made = people
    module = ChatbotModule.objects.create(team=team, name="hi", type="text_buttons", content={"text": "hi"})
    pack = AudiencePackFactory(team=team, channel=line)
    broadcast = BroadcastFactory(team=team, pack=pack, channel=line, content={"type": "module", "module_id": module.pk})
    services.schedule(broadcast, at=SEND_AT, now=SEND_AT - dt.timedelta(hours=1))
    services.sweep(now=SEND_AT - dt.timedelta(minutes=15))
    # after the snapshot, the subscribed contact unsubscribes from cart remarketing only: still sent
    set_unsubscribed(made["none"], scope="cart_remarketing", occurred_at=SEND_AT - dt.timedelta(minutes=5))
    services.sweep(now=SEND_AT)
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.SENT
    sent_to = set(
        OutboundMessage.objects.filter(origin="broadcast", origin_id=broadcast.pk).values_list("contact_id", flat=True)
    )
    assert sent_to == {made["web_push"].pk, made["cart_remarketing"].pk, made["none"].pk}
    assert not BroadcastRecipient.objects.filter(broadcast=broadcast, state="skipped").exists()
