from django.utils import timezone

from cdp.tests.factories import ChannelFactory, ContactFactory
from commerce.models import CatalogProduct
from commerce.services import orders
from tests.tenancy import tenancy_case


@tenancy_case("order")
def make_order(team):
    contact = ContactFactory(
        channel=ChannelFactory(team=team, kind="whatsapp"), last_customer_interaction_at=timezone.now()
    )
    return orders.create_order(
        team=team, contact=contact, items=[{"name": "禮盒", "quantity": 1, "unit_price": "100"}], payment_choice="cash"
    )


@tenancy_case("catalog-product")
def make_product(team):
    return CatalogProduct.objects.create(
        team=team, retailer_id="TEN-1", name="商品", price=10, currency=team.currency, source="manual"
    )
