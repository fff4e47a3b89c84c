"""Signed tokens for tracked clicks (/r/<token>) and open pixels (/o/<token>/...).

A token is `<send id hex>.<index hex>:<signature>`, signed by django.core.signing with its own salt: a
signature made with the same SECRET_KEY for another purpose does not verify here, and SECRET_KEY_FALLBACKS
rotates the key without breaking links already sent. Tokens do not expire: a customer may tap a button in a chat
months later.

Legacy tokens (`<hex>.<hex>.<truncated HMAC>`, minted before the switch to signing) are still read, but only for
a send created in the last LEGACY_TOKEN_DAYS days (tracking.py applies the window). No new legacy token is made,
so LEGACY_TOKEN_DAYS after the release that made this change no legacy token resolves any more and
`_legacy_value` can be deleted.
"""

import base64
import hashlib
import hmac
from typing import NamedTuple

from django.conf import settings
from django.core import signing

SALT = "messaging.tracked-link"
LEGACY_TOKEN_DAYS = 180

_signer = signing.Signer(salt=SALT)


class TrackedLink(NamedTuple):
    message_id: int
    index: int
    legacy: bool = False


def make_token(message_id, index=0):
    return _signer.sign(f"{message_id:x}.{index:x}")


def parse_token(token):
    """The TrackedLink a token names, or None when it is malformed, forged or tampered with."""
    try:
        value, legacy = _signer.unsign(token), False
    except signing.BadSignature:
        value, legacy = _legacy_value(token), True
    if value is None:
        return None
    message_id, index = value.split(".")
    return TrackedLink(int(message_id, 16), int(index, 16), legacy)


def _legacy_value(token):
    """The `<hex>.<hex>` body of a pre-signing token whose truncated HMAC-SHA256 checks out, else None."""
    parts = token.split(".")
    if len(parts) != 3 or not all(part.isascii() for part in parts):
        return None
    body = f"{parts[0]}.{parts[1]}"
    digest = hmac.new(settings.SECRET_KEY.encode(), body.encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(parts[2], base64.urlsafe_b64encode(digest[:9]).decode()):
        return None
    try:
        int(parts[0], 16), int(parts[1], 16)
    except ValueError:
        return None
    return body


def click_url(message_id, index):
    return f"{settings.PUBLIC_BASE_URL}/r/{make_token(message_id, index)}"


def open_url(message_id, index):
    return f"{settings.PUBLIC_BASE_URL}/o/{make_token(message_id, index)}"
