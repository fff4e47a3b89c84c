"""WeChat access tokens, shared by every worker: the shared cache in front, one database row per channel behind.

WeChat allows a limited number of cgi-bin/token calls a day and a new token invalidates the old one after a
few minutes, so workers must not each fetch their own. A token is read from the shared cache (encrypted, as
channel secrets are); when it is missing, expires within MESSAGING_WECHAT_TOKEN_MARGIN_SECONDS, or is the one
WeChat just refused (`stale`, errcode 40001), the channel's row is locked (SELECT ... FOR UPDATE) and read
again: whoever waited on the lock finds the token the first one fetched, so concurrent senders make one fetch.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from cdp import encryption

from ..models import WeChatAccessToken


def _cache_key(channel):
    return f"messaging:wechat-token:{channel.pk}"


def _usable(token, expires_at, stale, now):
    margin = timedelta(seconds=settings.MESSAGING_WECHAT_TOKEN_MARGIN_SECONDS)
    return bool(token) and token != stale and expires_at is not None and expires_at - margin > now


def _remember(channel, token, expires_at, now):
    seconds = int((expires_at - now).total_seconds())
    if seconds > 0:
        cache.set(_cache_key(channel), encryption.encrypt({"t": token, "e": expires_at.isoformat()}), seconds)


def _from_cache(channel):
    raw = cache.get(_cache_key(channel))
    if not raw:
        return "", None
    data = encryption.decrypt(raw)

    return data.get("t", ""), datetime.fromisoformat(data["e"])


def _row(channel):
    try:
        with transaction.atomic():
            row, _created = WeChatAccessToken.objects.get_or_create(team_id=channel.team_id, channel=channel)
    except IntegrityError:  # another worker created it first
        row = WeChatAccessToken.objects.get(team_id=channel.team_id, channel=channel)
    return row


def access_token(channel, fetch, *, stale=""):
    """A valid token for the channel. `fetch()` -> (token, expires_in seconds) calls cgi-bin/token (may raise; the
    adapter's TokenFailure); it runs only under the row lock and only when no usable token is stored."""
    now = timezone.now()
    token, expires_at = _from_cache(channel)
    if _usable(token, expires_at, stale, now):
        return token
    pk = _row(channel).pk
    with transaction.atomic():
        row = WeChatAccessToken.objects.select_for_update().get(pk=pk)
        token = (row.secret or {}).get("access_token", "")
        now = timezone.now()
        if not _usable(token, row.expires_at, stale, now):
            token, expires_in = fetch()
            row.secret = {"access_token": token}
            row.expires_at = now + timedelta(seconds=int(expires_in))
            row.fetched_at = now
            row.save(update_fields=["secret", "expires_at", "fetched_at"])
    _remember(channel, token, row.expires_at, now)
    return token


def forget(channel):
    cache.delete(_cache_key(channel))
