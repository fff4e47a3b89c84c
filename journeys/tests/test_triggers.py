import pytest
from django.conf import settings

from cdp.events import record_event
from cdp.models import CustomerEvent, EventType
from cdp.services import events_api
from cdp.services.attributes import set_attributes
from cdp.services.contacts import upsert_contact
from cdp.services.customers import record_checkout
from cdp.services.tags import add_tags
from cdp.tests.factories import ChannelFactory, ContactFactory, CustomAttributeFactory
from journeys.models import Enrollment
from journeys.tasks import on_customer_events
from journeys.tests.factories import delay, fire_concurrently, published_journey

pytestmark = pytest.mark.django_db


def _fire(team, since=0):
    ids = list(CustomerEvent.objects.filter(team=team, pk__gt=since).values_list("pk", flat=True))
    return on_customer_events(team.pk, ids)


def _journey(team, line, trigger_type, config, **fields):
    return published_journey(team, line, [delay(hours=1)], trigger_type=trigger_type, trigger_config=config, **fields)


def test_checkout_item_and_amount(team, line):
    _journey(team, line, "checkout_completed", {"item_name_contains": "咖啡", "amount_gte": "500"})
    big = ContactFactory(channel=line)
    small = ContactFactory(channel=line)
    other = ContactFactory(channel=line)
    record_checkout(
        customer=big.customer,
        order_id="A1",
        amount="800",
        currency="TWD",
        items=[{"name": "冷萃咖啡豆", "quantity": 1, "price": 800}],
    )
    record_checkout(
        customer=small.customer,
        order_id="A2",
        amount="100",
        currency="TWD",
        items=[{"name": "咖啡", "quantity": 1, "price": 100}],
    )
    record_checkout(
        customer=other.customer,
        order_id="A3",
        amount="900",
        currency="TWD",
        items=[{"name": "茶", "quantity": 1, "price": 900}],
    )
    assert _fire(team) == 1
    assert list(Enrollment.objects.values_list("customer_id", flat=True)) == [big.customer_id]
    assert Enrollment.objects.get().contact == big


def test_new_contact_on_target_channel_only(team, line):
    other_channel = ChannelFactory(team=team, kind="facebook")
    _journey(team, line, "new_contact", {})
    from django.utils import timezone

    upsert_contact(channel=line, external_id="Unew", occurred_at=timezone.now(), source="organic")
    upsert_contact(channel=other_channel, external_id="PSID1", occurred_at=timezone.now(), source="organic")
    assert _fire(team) == 1
    assert Enrollment.objects.get().contact.external_id == "Unew"


def test_tag_added_and_redelivery_is_idempotent(team, line):
    _journey(team, line, "tag_added", {"tag": "VIP"})
    contact = ContactFactory(channel=line)
    add_tags(customer=contact.customer, names=["VIP", "other"], source="test")
    assert _fire(team) == 1
    assert _fire(team) == 0  # the same events again
    assert Enrollment.objects.count() == 1


def test_attribute_changed_with_optional_value(team, line):
    CustomAttributeFactory(team=team, key="level", type="text")
    any_value = _journey(team, line, "attribute_changed", {"key": "level"})
    gold_only = _journey(team, line, "attribute_changed", {"key": "level", "value": "gold"})
    a, b = ContactFactory(channel=line), ContactFactory(channel=line)
    set_attributes(customer=a.customer, values={"level": "gold"}, source="test")
    set_attributes(customer=b.customer, values={"level": "silver"}, source="test")
    _fire(team)
    assert Enrollment.objects.filter(journey=any_value).count() == 2
    assert list(Enrollment.objects.filter(journey=gold_only).values_list("customer_id", flat=True)) == [a.customer_id]


def test_system_trigger_from_events_api(team, line, api):
    _journey(team, line, "system", {"name": "website_remarketing"})
    contact = ContactFactory(channel=line)
    contact.customer.member_id = "M1"
    contact.customer.save()
    response = api.post(
        "/api/v1/events",
        {"events": [{"id": "e1", "type": "system.website_remarketing", "data": {"member_id": "M1", "url": "/cart"}}]},
        format="json",
    )
    assert response.json()["accepted"] == 1, response.content
    assert response.status_code < 300, response.content
    _fire(team)
    assert Enrollment.objects.filter(customer=contact.customer).count() == 1


def test_per_customer_limit_and_repeats(team, line):
    journey = _journey(team, line, "system", {"name": "visit"}, per_customer_limit=2)
    contact = ContactFactory(channel=line)
    from django.utils import timezone

    for _ in range(4):
        record_event(
            team=team,
            customer=contact.customer,
            type=EventType.SYSTEM,
            occurred_at=timezone.now(),
            data={"name": "visit"},
        )
    _fire(team)
    assert Enrollment.objects.filter(journey=journey).count() == 2
    journey.refresh_from_db()
    assert journey.trigger_count == 2


def test_customers_without_a_target_contact_do_not_enter(team, line):
    _journey(team, line, "tag_added", {"tag": "VIP"})
    fb_only = ContactFactory(channel=ChannelFactory(team=team, kind="facebook"))
    add_tags(customer=fb_only.customer, names=["VIP"], source="test")
    assert _fire(team) == 0


@pytest.mark.postgres
@pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL row locks")
@pytest.mark.django_db(transaction=True)
def test_per_customer_limit_under_concurrent_triggers(team, line):
    from django.utils import timezone

    journey = _journey(team, line, "system", {"name": "visit"}, per_customer_limit=3)
    contact = ContactFactory(channel=line)
    # Inserted without announcing them: the threads below are the only ones to fire the triggers.
    events = CustomerEvent.objects.bulk_create(
        [
            CustomerEvent(
                team=team,
                customer=contact.customer,
                type=EventType.SYSTEM,
                occurred_at=timezone.now(),
                data={"name": "visit"},
            )
            for _ in range(16)
        ]
    )
    ids = [e.pk for e in events]
    fire_concurrently(team, ids)
    assert Enrollment.objects.filter(journey=journey).count() == 3
    journey.refresh_from_db()
    assert journey.trigger_count == 3


def test_a_tag_or_system_event_with_a_channel_reference_fires_the_trigger(team, line):
    """Issue 24.5: the events API's `channel` + `external_id` reference records the channel but no contact; the
    trigger still fires and sends through the customer's contact on the journey's target channel."""
    tagged = _journey(team, line, "tag_added", {"tag": "VIP"})
    system = _journey(team, line, "system", {"name": "visit"})
    contact = ContactFactory(team=team, channel=line, external_id="U-ref")
    reference = {"channel": line.pk, "external_id": "U-ref"}
    outcome = events_api.process(
        team,
        {
            "events": [
                {"id": "t1", "type": "tag.add", "data": {**reference, "tags": ["VIP"]}},
                {"id": "s1", "type": "system.visit", "data": reference},
            ]
        },
    )
    assert outcome.accepted == 2, outcome.rejected
    assert _fire(team) == 2
    for journey in (tagged, system):
        enrollment = Enrollment.objects.get(journey=journey)
        assert (enrollment.customer_id, enrollment.contact_id) == (contact.customer_id, contact.pk)


def test_a_tag_trigger_fires_when_any_of_its_tags_is_added(team, line):
    """Issue 24.3: 「貼上任一標籤」 — one or more tags, any of them fires; the old {"tag": name} still reads."""
    journey = _journey(team, line, "tag_added", {"tags": ["VIP", "回購"]})
    legacy = _journey(team, line, "tag_added", {"tag": "回購"})
    vip, repeat, other = (ContactFactory(channel=line) for _ in range(3))
    add_tags(customer=vip.customer, names=["VIP"], source="test")
    add_tags(customer=repeat.customer, names=["回購"], source="test")
    add_tags(customer=other.customer, names=["新客"], source="test")
    _fire(team)
    assert set(Enrollment.objects.filter(journey=journey).values_list("customer_id", flat=True)) == {
        vip.customer_id,
        repeat.customer_id,
    }
    assert list(Enrollment.objects.filter(journey=legacy).values_list("customer_id", flat=True)) == [repeat.customer_id]


def test_tag_trigger_settings_are_stored_as_a_list_and_validated(team):
    from journeys import services
    from journeys.models import normalize_trigger_config

    journey = services.create_journey(team=team, name="t", trigger_type="tag_added", trigger_config={"tag": "VIP"})
    assert journey.trigger_config == {"tags": ["VIP"]}
    services.update_settings(journey, values={"trigger_config": {"tags": [" VIP ", "回購", "VIP"]}})
    journey.refresh_from_db()
    assert journey.trigger_config == {"tags": ["VIP", "回購"]}
    for bad in ({"tags": []}, {"tags": "VIP"}, {"tags": [1]}, {"tags": [f"t{i}" for i in range(21)]}):
        with pytest.raises(services.JourneyError) as error:
            services.update_settings(journey, values={"trigger_config": bad})
        assert "trigger_config.tags" in error.value.message_dict
    assert normalize_trigger_config("system", {"name": "x"}) == {"name": "x"}


def test_the_migration_turns_the_old_tag_into_a_list(team):
    import importlib

    from django.apps import apps

    from journeys.models import Journey
    from journeys.tests.factories import JourneyFactory

    old = JourneyFactory(team=team, trigger_type="tag_added", trigger_config={"tag": "VIP"})
    untouched = JourneyFactory(team=team, trigger_type="system", trigger_config={"name": "x"})
    importlib.import_module("journeys.migrations.0002_tag_trigger_tags").forwards(apps, None)
    assert Journey.objects.get(pk=old.pk).trigger_config == {"tags": ["VIP"]}
    assert Journey.objects.get(pk=untouched.pk).trigger_config == {"name": "x"}
