"""Signed, expiring order links: the customer's way to the order pages, without an account.

A token is (team id, order id) signed with django.core.signing (salt "commerce.order-link") and a timestamp; it
expires after COMMERCE_ORDER_LINK_DAYS (7 by default). SECRET_KEY_FALLBACKS rotates the key without breaking links.
"""

from django.conf import settings
from django.core import signing
from django.urls import reverse

SALT = "commerce.order-link"


class LinkError(Exception):
    def __init__(self, code):
        super().__init__(code)
        self.code = code  # "invalid" | "expired"


def token_for(order):
    return signing.TimestampSigner(salt=SALT).sign_object({"t": order.team_id, "o": order.pk}, compress=False)


def max_age():
    return getattr(settings, "COMMERCE_ORDER_LINK_DAYS", 7) * 86400


def parse(token):
    """(team id, order id) of a token; LinkError("expired") or LinkError("invalid")."""
    try:
        value = signing.TimestampSigner(salt=SALT).unsign_object(token, max_age=max_age())
    except signing.SignatureExpired:
        raise LinkError("expired") from None
    except signing.BadSignature:
        raise LinkError("invalid") from None
    if not isinstance(value, dict) or not isinstance(value.get("t"), int) or not isinstance(value.get("o"), int):
        raise LinkError("invalid")
    return value["t"], value["o"]


def order_url(order):
    return settings.PUBLIC_BASE_URL + reverse("commerce-public:order", args=[token_for(order)])


def public_base():
    return settings.PUBLIC_BASE_URL
