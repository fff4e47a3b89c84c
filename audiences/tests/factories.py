"""factory-boy factories for audiences. AudiencePackFactory(team=team) makes its own LINE channel."""

import factory

from audiences.models import AudiencePack, Broadcast
from cdp.tests.factories import ChannelFactory
from tests.factories import TeamFactory

EVERYONE_BOUND_OR_NOT = {
    "op": "or",
    "children": [{"type": "binding", "bound": True}, {"type": "binding", "bound": False}],
}


class AudiencePackFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AudiencePack

    team = factory.SubFactory(TeamFactory)
    channel = factory.LazyAttribute(lambda o: ChannelFactory(team=o.team, kind="line"))
    name = factory.Sequence(lambda n: f"Pack {n}")
    conditions = factory.LazyFunction(lambda: dict(EVERYONE_BOUND_OR_NOT))


class BroadcastFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Broadcast

    team = factory.SubFactory(TeamFactory)
    pack = factory.LazyAttribute(lambda o: AudiencePackFactory(team=o.team))
    channel = factory.LazyAttribute(lambda o: o.pack.channel)
    name = factory.Sequence(lambda n: f"Broadcast {n}")
