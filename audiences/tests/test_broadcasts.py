import datetime as dt

import pytest
from django.utils import timezone

from audiences import services
from audiences.models import BroadcastRecipient, BroadcastStatus
from audiences.tests.factories import AudiencePackFactory, BroadcastFactory
from cdp.models import CustomerTag
from cdp.tests.factories import ChannelFactory, ContactFactory, TagFactory
from messaging.models import ChatbotModule, OutboundMessage
from messaging.services.outbox import dispatch

pytestmark = pytest.mark.django_db

VIP = {"op": "and", "children": [{"type": "tag", "op": "has", "tags": ["VIP"]}]}
SEND_AT = dt.datetime(2024, 9, 19, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def world(team):
    line = ChannelFactory(team=team, kind="line", is_sandbox=True)
    tag = TagFactory(team=team, name="VIP")
    pack = AudiencePackFactory(team=team, channel=line, conditions=VIP)
    return line, tag, pack


def tag(contact, tag_):
    CustomerTag.objects.create(team=contact.team, customer=contact.customer, tag=tag_)


def scheduled(team, pack):
    broadcast = BroadcastFactory(team=team, pack=pack, channel=pack.channel)
    broadcast.status, broadcast.scheduled_at = BroadcastStatus.SCHEDULED, SEND_AT
    broadcast.save()
    return broadcast


def recipients(broadcast):
    return set(BroadcastRecipient.objects.filter(broadcast=broadcast).values_list("contact_id", flat=True))


def test_snapshot_is_taken_15_minutes_before_and_frozen(team, world):
    line, vip, pack = world
    early, leaver, late = (ContactFactory(channel=line) for _ in range(3))
    tag(early, vip)
    tag(leaver, vip)
    broadcast = scheduled(team, pack)

    services.sweep(now=SEND_AT - dt.timedelta(minutes=16))  # too early: nothing taken
    broadcast.refresh_from_db()
    assert broadcast.snapshot_taken_at is None and not recipients(broadcast)

    services.sweep(now=SEND_AT - dt.timedelta(minutes=15))
    broadcast.refresh_from_db()
    assert broadcast.snapshot_taken_at == SEND_AT - dt.timedelta(minutes=15)
    assert recipients(broadcast) == {early.pk, leaver.pk} and broadcast.recipient_count == 2

    # after the snapshot: one contact starts qualifying, one stops qualifying, the pack itself is edited
    tag(late, vip)
    CustomerTag.objects.filter(customer=leaver.customer).delete()
    services.take_snapshot(broadcast, now=SEND_AT - dt.timedelta(minutes=5))  # a second snapshot is a no-op
    services.edit_pack(broadcast, conditions={"op": "or", "children": [{"type": "binding", "bound": False}]})
    assert recipients(broadcast) == {early.pk, leaver.pk}


def test_pack_edits_before_the_snapshot_count(team, world):
    line, vip, pack = world
    a, b = ContactFactory(channel=line), ContactFactory(channel=line)
    tag(a, vip)
    broadcast = scheduled(team, pack)
    services.edit_pack(broadcast, conditions={"op": "or", "children": [{"type": "binding", "bound": False}]})
    services.sweep(now=SEND_AT - dt.timedelta(minutes=10))
    assert recipients(broadcast) == {a.pk, b.pk}


def test_edit_matrix(team, world):
    line, _vip, pack = world
    other = AudiencePackFactory(team=team, channel=line)
    broadcast = BroadcastFactory(team=team, pack=pack, channel=line)
    # draft: all three
    services.change_pack(broadcast, other)
    broadcast = services.apply_custom_conditions(broadcast)
    assert broadcast.custom_conditions == other.conditions
    services.edit_pack(broadcast, name="still editable")
    # scheduled: only edit pack
    broadcast.status, broadcast.scheduled_at = BroadcastStatus.SCHEDULED, timezone.now() + dt.timedelta(days=1)
    broadcast.save()
    with pytest.raises(services.AudienceError) as info:
        services.change_pack(broadcast, pack)
    assert info.value.conflict
    with pytest.raises(services.AudienceError):
        services.apply_custom_conditions(broadcast, VIP)
    services.edit_pack(broadcast, name="edited while scheduled")
    # sent: nothing
    broadcast.status = BroadcastStatus.SENT
    broadcast.save()
    with pytest.raises(services.AudienceError):
        services.edit_pack(broadcast, name="no")


def test_custom_conditions_do_not_touch_the_pack(team, world):
    line, _vip, pack = world
    broadcast = BroadcastFactory(team=team, pack=pack, channel=line)
    custom = {"op": "and", "children": [{"type": "binding", "bound": True}]}
    services.apply_custom_conditions(broadcast, custom)
    pack.refresh_from_db()
    broadcast.refresh_from_db()
    assert pack.conditions == VIP and broadcast.conditions == custom


def test_schedule_needs_content_and_a_future_time(team, world):
    _line, _vip, pack = world
    broadcast = BroadcastFactory(team=team, pack=pack, channel=pack.channel)
    with pytest.raises(services.AudienceError) as info:
        services.schedule(broadcast, at=timezone.now() - dt.timedelta(minutes=1))
    assert info.value.field == "scheduled_at"
    with pytest.raises(services.AudienceError) as info:
        services.schedule(broadcast, at=timezone.now() + dt.timedelta(hours=1))
    assert info.value.field == "content"
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.DRAFT


# ------------------------------------------------------------------------------ sending through the outbox


def _module(team):
    return ChatbotModule.objects.create(team=team, name="hello", type="text_buttons", content={"text": "hi"})


def test_sandbox_broadcast_reaches_each_recipient_once_even_when_killed(team, world, monkeypatch):
    line, vip, pack = world
    contacts = [ContactFactory(channel=line) for _ in range(7)]
    for c in contacts:
        tag(c, vip)
    unsubscribed = contacts[-1]
    unsubscribed.unsubscribed_broadcast = True
    unsubscribed.save()
    broadcast = BroadcastFactory(
        team=team, pack=pack, channel=line, content={"type": "module", "module_id": _module(team).pk}
    )
    services.schedule(broadcast, at=SEND_AT, now=SEND_AT - dt.timedelta(hours=1))
    services.sweep(now=SEND_AT - dt.timedelta(minutes=15))
    # the snapshot excludes the unsubscribed contact already; unsubscribe one more after the snapshot
    late_unsub = contacts[0]
    late_unsub.unsubscribed_broadcast = True
    late_unsub.save()

    # the worker dies after its first batch of 2 has committed
    real = services.send_batch
    calls = {"n": 0}

    def dying(broadcast_id, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise SystemExit("worker killed")
        return real(broadcast_id, **{**kwargs, "size": 2})

    monkeypatch.setattr(services, "send_batch", dying)
    services.start_due_sends(now=SEND_AT)
    with pytest.raises(SystemExit):
        services.send_all(broadcast.pk, now=SEND_AT)
    monkeypatch.setattr(services, "send_batch", lambda bid, **kw: real(bid, **{**kw, "size": 2}))
    # the next sweep resumes it by itself (no task needed: its hint died with the worker); a second finds nothing
    monkeypatch.setattr(services, "_enqueue_send", lambda broadcast_id: pytest.fail("the sweep sends itself"))
    assert services.sweep(now=SEND_AT) == [broadcast.pk]
    assert services.sweep(now=SEND_AT) == []

    messages = OutboundMessage.objects.filter(team=team, origin="broadcast", origin_id=broadcast.pk)
    sent_to = list(messages.values_list("contact_id", flat=True))
    assert sorted(sent_to) == sorted(c.pk for c in contacts[1:-1])  # once each, none to the unsubscribed
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.SENT
    assert BroadcastRecipient.objects.get(broadcast=broadcast, contact=late_unsub).state == "skipped"
    contacts[1].refresh_from_db()
    assert contacts[1].last_team_marketing_at == SEND_AT

    # the sandbox adapter delivers them; the report counts with messaging's rules

    dispatch()
    assert set(messages.values_list("status", flat=True)) <= {"sent", "delivered", "read"}
    summary = services.report(broadcast)
    assert summary["recipients"] == 5 and summary["sent"] == 5 and summary["snapshot"] == 6
    assert sum(summary["skipped"].values()) == 1
