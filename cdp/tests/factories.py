"""factory-boy factories for the cdp models. Other apps' tests use them too.

ChannelFactory(team=team, kind="line")
ContactFactory(channel=channel)          # creates its own customer (one contact = one customer by default)
CustomerFactory(team=team, member_id="M1")
TagFactory(team=team, name="VIP")
CustomAttributeFactory(team=team, key="level", type="number")
"""

import factory
from django.utils import timezone

from cdp.models import (
    AttributeType,
    Channel,
    ChannelKind,
    Contact,
    ContactSource,
    CustomAttribute,
    Customer,
    CustomerTag,
    SubscriptionStatus,
    Tag,
)
from tests.factories import TeamFactory


class ChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Channel

    team = factory.SubFactory(TeamFactory)
    kind = ChannelKind.LINE
    name = factory.Sequence(lambda n: f"Channel {n}")
    external_id = factory.Sequence(lambda n: f"acct-{n}")
    credentials = factory.Dict({})


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    team = factory.SubFactory(TeamFactory)
    name = factory.Sequence(lambda n: f"Customer {n}")


class ContactFactory(factory.django.DjangoModelFactory):
    """A contact on `channel`; unless `customer` is given, it gets its own new customer of the same team."""

    class Meta:
        model = Contact

    channel = factory.SubFactory(ChannelFactory)
    team = factory.LazyAttribute(lambda o: o.channel.team)
    customer = factory.LazyAttribute(lambda o: Customer.objects.create(team=o.team, name=o.display_name))
    external_id = factory.Sequence(lambda n: f"U{n:08d}")
    display_name = factory.Sequence(lambda n: f"Contact {n}")
    status = SubscriptionStatus.SUBSCRIBED
    source = ContactSource.ORGANIC
    subscribed_at = factory.LazyFunction(timezone.now)
    created_at = factory.LazyFunction(timezone.now)


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ["team", "name"]

    team = factory.SubFactory(TeamFactory)
    name = factory.Sequence(lambda n: f"tag-{n}")


class CustomerTagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CustomerTag

    customer = factory.SubFactory(CustomerFactory)
    team = factory.LazyAttribute(lambda o: o.customer.team)
    tag = factory.LazyAttribute(lambda o: TagFactory(team=o.team))
    source = "api"


class CustomAttributeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CustomAttribute
        django_get_or_create = ["team", "key"]

    team = factory.SubFactory(TeamFactory)
    key = factory.Sequence(lambda n: f"attr_{n}")
    label = factory.LazyAttribute(lambda o: o.key)
    type = AttributeType.TEXT


def bulk_contacts(channel, external_ids):
    """Subscribed contacts of `channel` with these external ids, each with its own customer, in two INSERTs (for
    tests that need hundreds: ContactFactory costs a few statements per contact)."""
    now = timezone.now()
    team = channel.team
    customers = Customer.objects.bulk_create(Customer(team=team, name=f"Customer {x}") for x in external_ids)
    return Contact.objects.bulk_create(
        Contact(
            team=team,
            channel=channel,
            customer=customer,
            external_id=external_id,
            display_name=f"Contact {external_id}",
            status=SubscriptionStatus.SUBSCRIBED,
            source=ContactSource.ORGANIC,
            subscribed_at=now,
            created_at=now,
        )
        for external_id, customer in zip(external_ids, customers, strict=True)
    )
