from cdp.tests.factories import ChannelFactory, ContactFactory
from journeys.tests.factories import JourneyFactory
from tests.tenancy import tenancy_case


@tenancy_case("journey")
def make_journey(team):
    return JourneyFactory(team=team)


@tenancy_case("journey-enrollment")
def make_enrollment(team):
    from journeys.models import Enrollment, JourneyVersion

    journey = JourneyFactory(team=team)
    version = JourneyVersion.objects.create(team=team, journey=journey, number=1, graph={"nodes": []})
    contact = ContactFactory(channel=ChannelFactory(team=team))
    return Enrollment.objects.create(
        team=team, journey=journey, version=version, customer=contact.customer, contact=contact, node=""
    )
