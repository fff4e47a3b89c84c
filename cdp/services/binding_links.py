"""Binding links: a signed, expiring token naming (team, channel, contact) that a chat button carries to the brand's
website, so the website can post the binding without knowing the contact's channel id.

Signed with django.core.signing (its own salt, so no other signed value of the product is accepted as one) and
timestamped; the expiry is the team's `binding_link_days` (default 7) read when the token is used. The token may
name the binding method (coupon, chatbot_to_website, ...); the events API then takes the method from it.
"""

import datetime as dt
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.core import signing
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import ServiceError

from ..models import BindingMethod, Contact

SALT = "cdp.binding-link.v1"
# The query parameter the website reads (static/cdp/binding.js reads the same name).
PARAM = "cdp_binding"


@dataclass(frozen=True)
class BindingLink:
    url: str
    token: str
    expires_at: dt.datetime


def _max_age(team):
    return dt.timedelta(days=team.binding_link_days or 7)


def make_token(contact, method="", ref=None):
    """The token of one contact (and, optionally, the binding method the link is for)."""
    return token_for(contact.team_id, contact.channel_id, contact.pk, method, ref)


def token_for(team_id, channel_id, contact_id, method="", ref=None):
    """make_token from ids (the outbox renders links from a message's ids). `ref` is an opaque reference the link
    is for (coupons: the campaign id), signed with the rest."""
    if method and method not in BindingMethod.values:
        raise ServiceError(_("未知的綁定方式：%(value)s") % {"value": method}, field="method", code="invalid_method")
    payload = {"t": team_id, "ch": channel_id, "c": contact_id}
    if method:
        payload["m"] = method
    if ref is not None:
        payload["r"] = ref
    return signing.TimestampSigner(salt=SALT).sign_object(payload, compress=True)


def add_token(url, token):
    """The url with the token as its PARAM query parameter (an existing one is replaced)."""
    parts = urlsplit(url)
    query = [(key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True) if key != PARAM]
    query.append((PARAM, token))
    return urlunsplit(parts._replace(query=urlencode(query)))


def make_link(contact, *, url, method=""):
    """A website URL carrying the contact's token, and when the token expires."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ServiceError(_("請輸入 http(s) 網址。"), field="url", code="invalid_url")
    token = make_token(contact, method)
    return BindingLink(url=add_token(url, token), token=token, expires_at=timezone.now() + _max_age(contact.team))


@dataclass(frozen=True)
class ReadLink:
    contact: Contact
    method: str
    ref: object


def read_token(team, token):
    """(contact, method or "") named by a token of this team: see read_link."""
    link = read_link(team, token)
    return link.contact, link.method


def read_link(team, token):
    """The contact, method ("" if none) and ref of a token of this team; ServiceError with code expired_token,
    invalid_token (forged, altered, not a token), foreign_token (another team's) or unknown_contact (deleted)."""
    if not isinstance(token, str) or not token or len(token) > 1000:
        raise ServiceError(_("綁定連結的 token 無效。"), field="token", code="invalid_token")
    signer = signing.TimestampSigner(salt=SALT)
    try:
        payload = signer.unsign_object(token, max_age=_max_age(team))
    except signing.SignatureExpired:
        raise ServiceError(_("綁定連結已過期，請從對話中重新開啟連結。"), field="token", code="expired_token")
    except (signing.BadSignature, ValueError, TypeError):
        raise ServiceError(_("綁定連結的 token 無效。"), field="token", code="invalid_token")
    if not isinstance(payload, dict) or not isinstance(payload.get("c"), int):
        raise ServiceError(_("綁定連結的 token 無效。"), field="token", code="invalid_token")
    if payload.get("t") != team.pk:
        raise ServiceError(_("此綁定連結屬於其他團隊。"), field="token", code="foreign_token")
    contact = (
        Contact.objects.for_team(team).select_related("channel").filter(pk=payload["c"], channel_id=payload.get("ch"))
    ).first()
    if contact is None:
        raise ServiceError(_("綁定連結的聯絡人已不存在。"), field="token", code="unknown_contact")
    contact.team = team
    method = payload.get("m") or ""
    return ReadLink(contact, method if method in BindingMethod.values else "", payload.get("r"))


def team_of(token):
    """The team id of a genuine token, its age not checked yet (a public page must know the team to check the
    token against that team's expiry); None when forged or unreadable. Always follow with read_link."""
    try:
        payload = signing.TimestampSigner(salt=SALT).unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    return payload.get("t") if isinstance(payload, dict) and isinstance(payload.get("t"), int) else None
