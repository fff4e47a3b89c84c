"""The default provider: no credentials, a page of our own where a tester pays or fails (services.payments)."""

from django.core import signing
from django.urls import reverse

from .. import links
from .base import Checkout, PaymentProvider

SALT = "commerce.sandbox-payment"


def token_for(payment_id):
    return signing.Signer(salt=SALT).sign(str(payment_id))


def parse_token(token):
    try:
        return int(signing.Signer(salt=SALT).unsign(token))
    except (signing.BadSignature, ValueError):
        return None


class SandboxProvider(PaymentProvider):
    name = "sandbox"

    def start(self, payment, *, email, success_url, cancel_url):
        ref = f"sbx_{payment.pk}"
        return Checkout(
            ref=ref, url=links.public_base() + reverse("commerce-public:sandbox-pay", args=[token_for(payment.pk)])
        )

    def outcome(self, event):
        return event.payload.get("ref", ""), event.payload.get("result")
