from cdp.models import MergeRecord
from cdp.tests.factories import ChannelFactory, ContactFactory, CustomAttributeFactory, CustomerFactory, TagFactory
from tests.tenancy import tenancy_case


@tenancy_case("channel")
def make_channel(team):
    return ChannelFactory(team=team, kind="line")


@tenancy_case("contact")
def make_contact(team):
    return ContactFactory(channel=ChannelFactory(team=team))


@tenancy_case("customer")
def make_customer(team):
    return CustomerFactory(team=team, member_id="TENANCY-1")


@tenancy_case("tag")
def make_tag(team):
    return TagFactory(team=team, name="tenancy")


@tenancy_case("attribute-definition")
def make_attribute(team):
    return CustomAttributeFactory(team=team, key="tenancy_key")


@tenancy_case("merge")
def make_merge(team):
    from cdp.services.identity import merge_customers

    survivor, absorbed = CustomerFactory(team=team), CustomerFactory(team=team)
    record = merge_customers(survivor=survivor, absorbed=absorbed, evidence={"reason": "tenancy"})
    return MergeRecord.objects.get(pk=record.pk)


@tenancy_case("omo-member")
def make_omo_member(team):
    from cdp.services import omo

    return omo.create_member(team=team, kind="staff", name="Tenancy")


@tenancy_case("omo-assignment")
def make_omo_assignment(team):
    from cdp.models import OmoAssignment
    from cdp.services import omo

    member = omo.create_member(team=team, kind="branch", name="Tenancy branch")
    result = omo.add_customer(
        team=team, channel=ChannelFactory(team=team, kind="line"), external_id="U-t", member=member
    )
    return OmoAssignment.objects.get(contact=result.contact)
