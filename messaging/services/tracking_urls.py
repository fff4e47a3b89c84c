"""Signed, short tokens for tracked clicks (/r/<token>) and open pixels (/o/<token>/...)."""

import base64
import hashlib
import hmac

from django.conf import settings


def _sig(text):
    digest = hmac.new(settings.SECRET_KEY.encode(), text.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:9]).decode()


def make_token(message_id, index=0):
    body = f"{message_id:x}.{index:x}"
    return f"{body}.{_sig(body)}"


def parse_token(token):
    """Return (message_id, index) or None when the token is malformed or forged."""
    try:
        mid, idx, sig = token.split(".")
        body = f"{mid}.{idx}"
        if not hmac.compare_digest(sig, _sig(body)):
            return None
        return int(mid, 16), int(idx, 16)
    except (ValueError, AttributeError):
        return None


def click_url(message_id, index):
    return f"{settings.PUBLIC_BASE_URL}/r/{make_token(message_id, index)}"


def open_url(message_id, index):
    return f"{settings.PUBLIC_BASE_URL}/o/{make_token(message_id, index)}"
