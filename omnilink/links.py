"""OmniLink links: the signed per-(campaign, source contact) link the card's button carries, the one-time code,
and the target channel's deep link.

The link is `<PUBLIC_BASE_URL>/ol/<token>`; the token is `<campaign id hex>.<contact id hex>` signed by
django.core.signing with its own salt, so it cannot be forged or pointed at another contact, and
SECRET_KEY_FALLBACKS rotates the key without breaking cards already sent. It does not expire by itself: the
campaign's end date ends it.

Deep links, as the platforms document them:
- WhatsApp: https://wa.me/<number>?text=<message> (number: digits, international form, no + or 0 prefix);
- LINE: https://line.me/R/oaMessage/<basic id>/?<message> (basic id with its @; message percent-encoded);
- Messenger: https://m.me/<page>?ref=<code> (the ref arrives in a messaging_referrals webhook, or in the
  postback of the Get Started button for a new conversation);
- Instagram: https://ig.me/m/<username>?ref=<code> (Meta's ig.me links pass ref to the webhook the same way;
  Instagram has no prefilled text).
WhatsApp and LINE carry the integration message with the code in it; the customer only taps send.
"""

import re
import secrets
from urllib.parse import quote

from django.conf import settings
from django.core import signing

SALT = "omnilink.link"
_signer = signing.Signer(salt=SALT)

CODE_PREFIX = "OL-"
_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: a code a customer may retype
CODE_LENGTH = 8
CODE_RE = re.compile(r"OL-([2-9A-HJ-NP-Z]{8})\b")


def make_token(campaign_id, contact_id):
    return _signer.sign(f"{campaign_id:x}.{contact_id:x}")


def parse_token(token):
    """(campaign id, contact id) of a genuine token, or None when it is malformed, forged or tampered with."""
    try:
        value = _signer.unsign(str(token))
        campaign_hex, contact_hex = value.split(".")
        return int(campaign_hex, 16), int(contact_hex, 16)
    except (signing.BadSignature, ValueError):
        return None


def link_url(campaign_id, contact_id):
    return f"{settings.PUBLIC_BASE_URL}/ol/{make_token(campaign_id, contact_id)}"


def card_url(*, module, message):
    """The button link of an OmniLink card sent to one contact (settings.MESSAGING_PERSONAL_LINKS)."""
    campaign_id = (module.content or {}).get("campaign_id")
    if not campaign_id or not message.contact_id:
        return None
    return link_url(int(campaign_id), message.contact_id)


def new_code():
    return CODE_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(CODE_LENGTH))


def find_code(text="", ref=""):
    """The OmniLink code in a referral ref or a typed message, or "". A plain message costs one substring test."""
    if ref:
        match = CODE_RE.fullmatch(ref.strip().upper())
        return match.group(0) if match else ""
    if not text or CODE_PREFIX not in text.upper():
        return ""
    match = CODE_RE.search(text.upper())
    return match.group(0) if match else ""


class LinkUnavailable(Exception):
    """The target channel lacks what its deep link needs (無法產生整合連結)."""


def integration_text(campaign, code):
    return f"{campaign.integration_message} {code}".strip()


def deep_link(campaign, code):
    """The target channel's deep link carrying `code`. Raises LinkUnavailable."""
    channel = campaign.target_channel
    if channel is None or not channel.is_active:
        raise LinkUnavailable("target channel disabled")
    creds = channel.credentials or {}
    kind = channel.kind
    if kind == "whatsapp":
        number = re.sub(r"\D", "", str(creds.get("display_phone_number") or ""))
        if not number:
            raise LinkUnavailable("WhatsApp channel has no display_phone_number")
        return f"https://wa.me/{number}?text={quote(integration_text(campaign, code), safe='')}"
    if kind == "line":
        basic_id = str(creds.get("basic_id") or "").strip()
        if not basic_id:
            raise LinkUnavailable("LINE channel has no basic_id")
        if not basic_id.startswith("@"):
            basic_id = "@" + basic_id
        text = quote(integration_text(campaign, code), safe="")
        return f"https://line.me/R/oaMessage/{quote(basic_id, safe='@')}/?{text}"
    if kind == "facebook":
        page = str(creds.get("username") or creds.get("page_id") or channel.external_id or "").strip()
        if not page:
            raise LinkUnavailable("Messenger channel has no page id")
        return f"https://m.me/{quote(page, safe='')}?ref={quote(code, safe='')}"
    if kind == "instagram":
        username = str(creds.get("username") or "").strip().lstrip("@")
        if not username:
            raise LinkUnavailable("Instagram channel has no username")
        return f"https://ig.me/m/{quote(username, safe='')}?ref={quote(code, safe='')}"
    raise LinkUnavailable(f"unsupported target channel kind {kind}")
