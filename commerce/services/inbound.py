"""A WhatsApp catalog cart (the Cloud API `order` message) becomes a draft order, and the customer gets the
order link to finish delivery and payment. Messaging hands these over through accounts.handoff ("inbound").

The message's shape was checked when the webhook stored it (messaging.services.ingest.wa_order_problem: a
malformed one is stored rejected and never reaches here). What only commerce can judge, a currency that is not
the team's, marks the webhook event rejected with the reason and writes no order.
"""

import logging

from django.db import transaction
from django.utils import timezone

from cdp.models import Contact
from core.errors import ServiceError
from messaging.models import WebhookEvent, WebhookEventState

from ..models import CatalogProduct, Order, OrderSource
from . import orders

logger = logging.getLogger(__name__)


def order_from_whatsapp(team, payload):
    channel_id, message_id = payload.get("channel_id"), str(payload.get("message_id") or "")
    if Order.objects.filter(team=team, channel_id=channel_id, source_message_id=message_id).exists():
        return None  # a hand-off delivered twice
    contact = Contact.objects.for_team(team).select_related("channel").filter(pk=payload.get("contact_id")).first()
    cart = payload.get("order") or {}
    retailer_ids = [str(i.get("product_retailer_id")) for i in cart.get("product_items") or []]
    names = dict(
        CatalogProduct.objects.for_team(team).filter(retailer_id__in=retailer_ids).values_list("retailer_id", "name")
    )
    items = [
        {
            "name": names.get(str(i["product_retailer_id"])) or str(i["product_retailer_id"]),
            "sku": str(i["product_retailer_id"]),
            "quantity": int(i["quantity"]),
            "unit_price": str(i["item_price"]),
            "currency": str(i["currency"]).upper(),
        }
        for i in cart.get("product_items") or []
    ]
    try:
        with transaction.atomic():
            order = orders.create_order(
                team=team,
                contact=contact,
                items=items,
                note=str(cart.get("text") or "")[:500],
                source=OrderSource.CATALOG,
                source_message_id=message_id,
                catalog_id=str(cart.get("catalog_id") or ""),
            )
            return orders.send_order(order, actor="whatsapp catalog")
    except ServiceError as error:
        reason = f"order refused: {error}"[:500]
        WebhookEvent.objects.filter(pk=payload.get("webhook_event_id"), team_id=team.pk).update(
            state=WebhookEventState.REJECTED, error=reason, processed_at=timezone.now()
        )
        logger.info("WhatsApp order %s of team %s refused: %s", message_id, team.pk, error)
        return None
