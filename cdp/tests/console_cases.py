from django.core.files.base import ContentFile

from cdp.models import ImportJob
from cdp.tests.factories import ChannelFactory, ContactFactory, CustomAttributeFactory, CustomerFactory, TagFactory
from cdp.tests.tenancy_cases import make_merge
from tests.tenancy import console_case


@console_case(
    "cdp:customer", "cdp:customer-timeline", "cdp:customer-tags", "cdp:customer-points", "audiences:customer-drawer"
)
def customer_urls(team):
    return {"pk": CustomerFactory(team=team).pk}


@console_case("cdp:contact-unsubscribe")
def contact_urls(team):
    return {"pk": ContactFactory(channel=ChannelFactory(team=team)).pk}


@console_case("cdp:unmerge")
def merge_urls(team):
    return {"pk": make_merge(team).pk}


@console_case("cdp:tag-rename", "cdp:tag-archive")
def tag_urls(team):
    return {"pk": TagFactory(team=team, name="console walk").pk}


@console_case("cdp:attribute-update")
def attribute_urls(team):
    return {"pk": CustomAttributeFactory(team=team, key="console_walk").pk}


@console_case("cdp:import-mapping", "cdp:import-job", "cdp:import-errors")
def import_urls(team):
    job = ImportJob(team=team, original_name="walk.csv")
    job.file.save("walk.csv", ContentFile(b"phone,name\n0912345678,Walk\n"))
    return {"pk": job.pk}


@console_case("cdp:contact-omo-transfer")
def omo_transfer_urls(team):
    return {"pk": ContactFactory(channel=ChannelFactory(team=team)).pk}
