"""The one interface every channel provider implements (after healthchecks' hc/integrations/*/transport.py).

An adapter turns already-rendered platform payloads into HTTP calls and platform answers into a SendResult.
It never touches the database: the outbox (messaging.services.outbox) owns state, retries and bookkeeping.
"""

import json
import logging
from dataclasses import dataclass, field

from django.conf import settings

from core import httpclient

logger = logging.getLogger(__name__)

# Error kinds the outbox acts on.
RETRYABLE = "retryable"  # rate limit, 5xx, timeouts, WhatsApp 130429 / 131056: retry with backoff
PERMANENT = "permanent"  # bad recipient, blocked, invalid content: mark failed with the platform's reason
BUDGET = "budget"  # LINE monthly limit, WhatsApp 131042 payment: the channel's budget is exhausted
TEMPLATE = "template"  # WhatsApp 132001 / 132015 / 132016: the template is unusable
UNSUBSCRIBED = "unsubscribed"  # WhatsApp 131050: the user stopped marketing messages


@dataclass
class SendResult:
    ok: bool
    provider_message_id: str = ""
    error_kind: str = ""
    error_code: str = ""
    error_reason: str = ""
    # For multicast: per-recipient provider ids are not returned by LINE; the request id is kept instead.
    extra: dict = field(default_factory=dict)

    @classmethod
    def success(cls, provider_message_id="", **extra):
        return cls(ok=True, provider_message_id=provider_message_id, extra=extra)

    @classmethod
    def failure(cls, kind, code, reason):
        return cls(ok=False, error_kind=kind, error_code=str(code), error_reason=str(reason)[:500])

    @property
    def retryable(self):
        return self.error_kind == RETRYABLE


class Transport:
    """Base class: `kind`, credentials from the channel, and JSON over the process's pooled HTTP client."""

    kind = ""

    def __init__(self, channel):
        self.channel = channel
        self.credentials = channel.credentials or {}

    # --- the interface -------------------------------------------------------------------------------
    def send(self, *, recipient, payload, retry_key):
        """Send one rendered payload (from messaging.services.content.render) to one recipient id."""
        raise NotImplementedError

    def multicast(self, *, recipients, payload, retry_key):
        """Send the same payload to several recipients. Default: not supported (the outbox sends one by one)."""
        raise NotImplementedError

    supports_multicast = False

    def test_connection(self):
        """Return (ok: bool, message: str): is the channel reachable with its credentials?"""
        raise NotImplementedError

    # --- HTTP ----------------------------------------------------------------------------------------
    def headers(self):
        """Every platform takes the channel's access token (cdp.credentials) as a Bearer header, never in a URL."""
        return {"Authorization": f"Bearer {self.credentials.get('access_token', '')}"}

    def request(self, method, url, *, body=None, data=None, headers=None):
        """The platform's answer (any status), or status 0 with the reason when no answer came. `body` is sent as
        JSON; `data` as given (form-encoded providers such as SMS gateways)."""
        headers = dict(headers or {})
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
            headers.setdefault("Content-Type", "application/json")
        try:
            return httpclient.request(
                method, url, body=data, headers=headers, timeout=settings.HTTP_CLIENT_TIMEOUT_SECONDS
            )
        except httpclient.NetworkError as exc:
            logger.warning("%s request to %s failed: %s", self.kind, url, exc)
            return httpclient.Response(0, str(exc).encode(), {})


def network_failure(response):
    return SendResult.failure(RETRYABLE, "network", response.body.decode(errors="replace") or "network error")
