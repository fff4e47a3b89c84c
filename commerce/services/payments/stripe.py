"""Stripe Checkout Sessions in Stripe's real API format, and Stripe's signed webhooks.

Start: POST {STRIPE_API_BASE}/v1/checkout/sessions, form-encoded (line_items[0][price_data][...]), with the secret
key as Bearer and `Idempotency-Key: commerce-payment-<id>`. Webhook: the `Stripe-Signature` header
"t=<unix>,v1=<hex>" where v1 = HMAC-SHA256(webhook secret, "<t>.<raw body>"); a timestamp older than 5 minutes
is refused (replays). Events used: checkout.session.completed with payment_status "paid" and
checkout.session.async_payment_succeeded → paid; checkout.session.async_payment_failed / expired → failed.
"""

import hashlib
import hmac
import json
import time
from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings

from core import httpclient

from .base import Checkout, PaymentProvider, ProviderError, WebhookEvent, WebhookRejected

TOLERANCE_SECONDS = 300
# Stripe's zero-decimal currencies: amounts are whole units, not cents.
ZERO_DECIMAL = {
    "BIF",
    "CLP",
    "DJF",
    "GNF",
    "JPY",
    "KMF",
    "KRW",
    "MGA",
    "PYG",
    "RWF",
    "UGX",
    "VND",
    "VUV",
    "XAF",
    "XOF",
    "XPF",
}
PAID_EVENTS = {"checkout.session.completed", "checkout.session.async_payment_succeeded"}
FAILED_EVENTS = {"checkout.session.async_payment_failed", "checkout.session.expired"}


def minor_units(amount, currency):
    amount = Decimal(amount)
    return int(amount if currency.upper() in ZERO_DECIMAL else (amount * 100).quantize(Decimal("1")))


def sign(secret, body, timestamp=None):
    """The Stripe-Signature header value for `body` (tests and the fake server sign with it too)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret, body, header, *, now=None):
    parts = {}
    for piece in (header or "").split(","):
        key, _, value = piece.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts.get("t", [""])[0])
    except ValueError:
        raise WebhookRejected(400, "no timestamp in Stripe-Signature") from None
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, given) for given in parts.get("v1", [])):
        raise WebhookRejected(400, "bad signature")
    now = time.time() if now is None else now
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise WebhookRejected(400, "timestamp outside the tolerance")


class StripeProvider(PaymentProvider):
    name = "stripe"

    def start(self, payment, *, email, success_url, cancel_url):
        order = payment.order
        form = {
            "mode": "payment",
            "success_url": success_url,
            "cancel_url": cancel_url,
            "client_reference_id": order.number,
            "metadata[order_id]": str(order.pk),
            "metadata[payment_id]": str(payment.pk),
            "payment_intent_data[metadata][order_id]": str(order.pk),
        }
        if email:
            form["customer_email"] = email
        for i, item in enumerate(order.items.all()):
            form[f"line_items[{i}][quantity]"] = str(item.quantity)
            form[f"line_items[{i}][price_data][currency]"] = order.currency.lower()
            form[f"line_items[{i}][price_data][unit_amount]"] = str(minor_units(item.unit_price, order.currency))
            form[f"line_items[{i}][price_data][product_data][name]"] = item.name
        headers = {
            "Authorization": f"Bearer {self.credentials.get('secret_key', '')}",
            "Content-Type": "application/x-www-form-urlencoded",
            "Idempotency-Key": f"commerce-payment-{payment.pk}",
        }
        url = settings.COMMERCE_STRIPE_API_BASE.rstrip("/") + "/v1/checkout/sessions"
        try:
            response = httpclient.request("POST", url, body=urlencode(form).encode(), headers=headers)
        except httpclient.NetworkError as error:
            raise ProviderError(f"Stripe unreachable: {error}") from error
        data = response.json()
        if response.status != 200 or not data.get("id") or not data.get("url"):
            message = (data.get("error") or {}).get("message") or f"HTTP {response.status}"
            raise ProviderError(f"Stripe refused the checkout session: {message}")
        return Checkout(ref=data["id"], url=data["url"])

    def parse_webhook(self, body, headers):
        secret = self.credentials.get("webhook_secret", "")
        if not secret:
            raise WebhookRejected(404, "Stripe is not set up for this team")
        verify(secret, body, headers.get("Stripe-Signature", ""))
        try:
            data = json.loads(body)
        except ValueError:
            raise WebhookRejected(400, "malformed JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
            raise WebhookRejected(400, "not a Stripe event")
        return [WebhookEvent(event_id=data["id"], type=str(data.get("type", ""))[:100], payload=data)]

    def outcome(self, event):
        session = ((event.payload or {}).get("data") or {}).get("object") or {}
        ref = session.get("id", "") if isinstance(session, dict) else ""
        if event.type == "checkout.session.completed":
            return ref, "paid" if session.get("payment_status") in ("paid", "no_payment_required") else None
        if event.type in PAID_EVENTS:
            return ref, "paid"
        if event.type in FAILED_EVENTS:
            return ref, "failed"
        return ref, None
