"""The payment-provider interface. A provider starts a hosted checkout for a Payment row and reads its webhooks.

- start(payment, *, email, success_url, cancel_url) -> Checkout(ref, url): one hosted checkout; the provider's
  idempotency key is the payment id, so a retried start never makes two charges.
- parse_webhook(body, headers) -> [WebhookEvent]: verify the signature over the raw body (WebhookRejected when it
  does not verify) and list the events with their ids, so they are stored deduplicated before the 200.
- outcome(event) -> (provider_ref, "paid" | "failed" | None): what a stored event means for a payment.
"""

from dataclasses import dataclass


class ProviderError(Exception):
    """The provider refused or could not be reached; nothing was charged."""


class WebhookRejected(Exception):
    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class Checkout:
    ref: str
    url: str


@dataclass
class WebhookEvent:
    event_id: str
    type: str
    payload: dict


class PaymentProvider:
    name = ""

    def __init__(self, credentials):
        self.credentials = credentials or {}

    def start(self, payment, *, email, success_url, cancel_url):
        raise NotImplementedError

    def parse_webhook(self, body, headers):
        raise NotImplementedError

    def outcome(self, event):
        raise NotImplementedError
