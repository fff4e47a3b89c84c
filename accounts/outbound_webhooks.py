"""The team's outbound webhook: events become delivery rows in the transaction that caused them; workers send them.

Why in accounts: the webhook is a team setting (URL, secret, the guard), and any app may have an event to
report; apps depend downward, so only here can every app record a delivery in its own transaction, and the
settings page can list them.

Work in flight. `enqueue_many` writes `pending` rows in the caller's transaction and hints
`accounts.tasks.send_outbound_webhooks` on commit; the per-minute Schedule "accounts: outbound webhooks" sends
what the hints missed. A worker claims one due row at a time with a conditional UPDATE that stamps a lease
(`claimed_until`, also the claim token; `skip_locked` on PostgreSQL), POSTs it, and records the outcome only if
its lease still holds. A worker that dies mid-send leaves the row pending with an expired lease: it is due
again, so a delivery may arrive twice (the receiver deduplicates by `delivery_id`) and is never lost.

Outcomes: 2xx delivered; network errors, 408, 429 and 5xx retry with exponential backoff until
OUTBOUND_WEBHOOK_MAX_ATTEMPTS, then failed, and the team's other deliveries wait for that retry (a dead receiver
costs one request per backoff step, not one timeout per event); a refused address, a redirect or another 4xx
fail at once.

Signature (README "Outbound webhook"): `X-SocialCDP-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<raw body>" with the team's secret>`. Every delivery is signed; a missing secret is generated first.
"""

import hashlib
import hmac
import json
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from core import httpclient

from . import queues, urlguard
from .models import DeliveryState, OutboundWebhookDelivery, Team, generate_webhook_secret

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-SocialCDP-Signature"
TOLERANCE_SECONDS = 300  # documented: receivers refuse a timestamp further than this from their clock
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 3600
LEASE_MARGIN_SECONDS = 30
RETRY_STATUSES = {408, 429}
RECENT_ON_SETTINGS_PAGE = 20


# ------------------------------------------------------------------------------------------------ the secret
def ensure_secret(team):
    """The team's signing secret, created when missing (conditional: concurrent callers agree on one)."""
    if not team.outbound_webhook_secret:
        missing = Team.objects.filter(pk=team.pk, outbound_webhook_secret="")
        missing.update(outbound_webhook_secret=generate_webhook_secret())
        team.refresh_from_db(fields=["outbound_webhook_secret"])
    return team.outbound_webhook_secret


def rotate_secret(team):
    """A new secret; deliveries sent from now on are signed with it (receivers must switch at once)."""
    team.outbound_webhook_secret = generate_webhook_secret()
    team.save(update_fields=["outbound_webhook_secret"])
    return team.outbound_webhook_secret


def sign(secret, body, timestamp):
    """The signature header value for a raw body sent at `timestamp` (unix seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


# ------------------------------------------------------------------------------------------------ recording
def enqueue_many(events):
    """Record deliveries for (team id, payload with a "type") pairs in the caller's transaction; hint on commit."""
    rows = [
        OutboundWebhookDelivery(team_id=team_id, event_type=str(payload["type"])[:64], payload=payload)
        for team_id, payload in events
    ]
    OutboundWebhookDelivery.objects.bulk_create(rows, batch_size=1000)
    if rows:
        transaction.on_commit(_hint_send)
    return len(rows)


# A hint after the commit (a broker that is down loses it with a log line; the per-minute Schedule sends the rows).
_hint_send = queues.Hint("accounts.tasks.send_outbound_webhooks")


def recent(team, limit=RECENT_ON_SETTINGS_PAGE):
    return OutboundWebhookDelivery.objects.for_team(team)[:limit]


# ------------------------------------------------------------------------------------------------ sending
def _due(now):
    return Q(state=DeliveryState.PENDING, next_attempt_at__lte=now) & (
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )


def lease():
    return timedelta(seconds=settings.OUTBOUND_WEBHOOK_TIMEOUT_SECONDS + LEASE_MARGIN_SECONDS)


def claim(now=None):
    """Claim the next due delivery (an expired lease counts as due); returns it or None."""
    now = now or timezone.now()
    token = now + lease()
    with transaction.atomic():
        row = (
            OutboundWebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(_due(now))
            .order_by("next_attempt_at", "id")
            .values_list("id", flat=True)
            .first()
        )
        if row is None:
            return None
        claimed = OutboundWebhookDelivery.objects.filter(_due(now), pk=row).update(
            claimed_until=token, attempts=F("attempts") + 1, updated_at=now
        )
    if not claimed:
        return None
    return OutboundWebhookDelivery.objects.select_related("team").filter(pk=row, claimed_until=token).first()


def dispatch(max_seconds=50.0, now=None):
    """Send due deliveries until none is left or the time budget is spent. Returns how many were handled."""
    started = time.monotonic()
    handled = 0
    while time.monotonic() - started < max_seconds:
        delivery = claim(now)
        if delivery is None:
            break
        send(delivery)
        handled += 1
    return handled


def body_of(delivery):
    payload = {**delivery.payload, "delivery_id": delivery.pk}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def send(delivery):
    """POST one claimed delivery and record the outcome (only while our lease holds)."""
    team = delivery.team
    url = team.outbound_webhook_url
    if not url:
        return _finish(delivery, DeliveryState.FAILED, error="no outbound webhook URL configured")
    body = body_of(delivery)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "SocialCDP-Webhooks/1",
        "X-SocialCDP-Event": delivery.event_type,
        "X-SocialCDP-Delivery": str(delivery.pk),
        SIGNATURE_HEADER: sign(ensure_secret(team), body, int(time.time())),
    }
    try:
        status = urlguard.post(url, body, headers, timeout=settings.OUTBOUND_WEBHOOK_TIMEOUT_SECONDS)
    except urlguard.URLRefused as refused:
        logger.warning("Outbound webhook delivery %s for team %s refused: %s", delivery.pk, team.pk, refused)
        return _finish(delivery, None if refused.transient else DeliveryState.FAILED, url=url, error=str(refused))
    except httpclient.NetworkError as error:
        logger.warning("Outbound webhook delivery %s for team %s failed: %r", delivery.pk, team.pk, error)
        return _finish(delivery, None, url=url, error=repr(error))
    if 200 <= status < 300:
        return _finish(delivery, DeliveryState.DELIVERED, url=url, status=status)
    retry = status in RETRY_STATUSES or status >= 500
    return _finish(delivery, None if retry else DeliveryState.FAILED, url=url, status=status, error=f"HTTP {status}")


def _finish(delivery, state, *, url="", status=None, error=""):
    """Record an outcome; state None means "retry later" (failed once the attempts are spent)."""
    now = timezone.now()
    fields = {"claimed_until": None, "url": url, "last_status_code": status, "last_error": error[:500]}
    fields["updated_at"] = now
    transient = state is None
    if transient and delivery.attempts < settings.OUTBOUND_WEBHOOK_MAX_ATTEMPTS:
        delay = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, delivery.attempts - 1))
        fields["next_attempt_at"] = now + timedelta(seconds=delay)
        state = DeliveryState.PENDING
    elif transient:
        state = DeliveryState.FAILED
    if state == DeliveryState.DELIVERED:
        fields["delivered_at"] = now
    fields["state"] = state
    OutboundWebhookDelivery.objects.filter(pk=delivery.pk, claimed_until=delivery.claimed_until).update(**fields)
    delivery.state = state
    if transient:
        _hold_team(delivery, fields.get("next_attempt_at") or now + timedelta(seconds=BACKOFF_BASE_SECONDS), now)
    return state


def _hold_team(delivery, until, now):
    """The team's receiver is failing: its other deliveries wait for this one's retry instead of each timing out
    in turn, so one team's dead endpoint costs one request per backoff step and never holds the workers long."""
    waiting = OutboundWebhookDelivery.objects.filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now),
        team_id=delivery.team_id,
        state=DeliveryState.PENDING,
        next_attempt_at__lt=until,
    )
    waiting.exclude(pk=delivery.pk).update(next_attempt_at=until, updated_at=now)
