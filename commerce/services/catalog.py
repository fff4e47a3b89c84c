"""The team's catalog products: managed by hand, or synced on demand from the Commerce Manager catalog
(Graph API `GET /{catalog-id}/products`, through the WhatsApp channel's token and the pooled client)."""

import re
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cdp.models import Channel
from core.errors import ServiceError
from messaging.adapters.whatsapp import WhatsAppTransport

from ..models import CatalogProduct
from . import shop_settings

FIELDS = "id,retailer_id,name,price,currency,image_url,availability"
MAX_PAGES = 200


def _price(value):
    """Graph gives a formatted price ("NT$1,280.00", "$12.00", "1280"): keep the number."""
    text = re.sub(r"[^0-9.]", "", str(value or "").replace(",", ""))
    try:
        price = Decimal(text)
    except InvalidOperation:
        return None
    return price if price.is_finite() and 0 <= price < Decimal("1e10") else None


def save_product(team, *, retailer_id, name, price, currency=None, image_url="", is_active=True, product=None):
    """Create (or, with `product`, change) a product made by hand."""
    retailer_id, name = str(retailer_id or "").strip(), str(name or "").strip()
    if not retailer_id or len(retailer_id) > 100:
        raise ServiceError(_("需要商品編號（最多 100 字）。"), field="retailer_id", code="invalid_retailer_id")
    if not name or len(name) > 200:
        raise ServiceError(_("需要商品名稱（最多 200 字）。"), field="name", code="invalid_name")
    try:
        amount = None if isinstance(price, bool) else Decimal(str(price).strip())
    except (InvalidOperation, ValueError):
        amount = None
    if amount is None or not amount.is_finite() or not 0 <= amount < Decimal("1e10"):
        raise ServiceError(_("單價必須是 0 以上的數字。"), field="price", code="invalid_price")
    currency = str(currency or team.currency).upper()
    if currency != team.currency:
        raise ServiceError(
            _("幣別必須是團隊幣別 %(c)s。") % {"c": team.currency}, field="currency", code="currency_mismatch"
        )
    fields = {
        "retailer_id": retailer_id,
        "name": name,
        "price": amount.quantize(Decimal("0.01")),
        "currency": currency,
        "image_url": str(image_url or "")[:1000],
        "is_active": bool(is_active),
    }
    try:
        with transaction.atomic():
            if product is None:
                return CatalogProduct.objects.create(team=team, source="manual", **fields)
            for key, value in fields.items():
                setattr(product, key, value)
            product.save()
            return product
    except IntegrityError:
        raise ServiceError(
            _("商品編號已存在：%(id)s") % {"id": retailer_id}, field="retailer_id", code="duplicate_retailer_id"
        ) from None


def sync_catalog(team, *, channel=None):
    """Fetch every product of the team's catalog and upsert by retailer id. Returns (created, updated)."""
    row = shop_settings.get_settings(team)
    if not row.catalog_id:
        raise ServiceError(_("請先設定 Commerce Manager 目錄 ID。"), field="catalog_id", code="no_catalog")
    channel = channel or Channel.objects.for_team(team).filter(kind="whatsapp", status="active").order_by("pk").first()
    if channel is None or channel.kind != "whatsapp" or channel.team_id != team.pk:
        raise ServiceError(_("需要一個 WhatsApp 渠道來同步目錄。"), field="channel", code="no_whatsapp_channel")
    transport = WhatsAppTransport(channel)
    url = f"{transport.base}/{row.catalog_id}/products?{urlencode({'fields': FIELDS, 'limit': 100})}"
    found = []
    for _page in range(MAX_PAGES):
        response = transport.request("GET", url, headers=transport.headers())
        data = response.json()
        if response.status != 200:
            message = (data.get("error") or {}).get("message") or f"HTTP {response.status}"
            raise ServiceError(_("目錄同步失敗：%(m)s") % {"m": message}, field="catalog_id", code="sync_failed")
        found.extend(p for p in data.get("data") or [] if isinstance(p, dict))
        url = (data.get("paging") or {}).get("next")
        if not url:
            break
    now = timezone.now()
    created = updated = 0
    with transaction.atomic():
        existing = {p.retailer_id: p for p in CatalogProduct.objects.for_team(team)}
        for item in found:
            retailer_id = str(item.get("retailer_id") or "").strip()[:100]
            price = _price(item.get("price"))
            currency = str(item.get("currency") or team.currency).upper()
            if not retailer_id or price is None or currency != team.currency:
                continue  # not sellable here (no SKU, no price, another currency)
            fields = {
                "name": str(item.get("name") or retailer_id)[:200],
                "price": price.quantize(Decimal("0.01")),
                "currency": currency,
                "image_url": str(item.get("image_url") or "")[:1000],
                "catalog_product_id": str(item.get("id") or "")[:64],
                "is_active": item.get("availability", "in stock") == "in stock",
                "synced_at": now,
                "source": "catalog",
            }
            product = existing.get(retailer_id)
            if product is None:
                CatalogProduct.objects.create(team=team, retailer_id=retailer_id, **fields)
                created += 1
            else:
                CatalogProduct.objects.filter(pk=product.pk).update(**fields)
                updated += 1
    return created, updated
