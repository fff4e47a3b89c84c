"""SMS delivery receipts at /webhooks/sms/<channel id>/: the provider says delivered or failed.

Twilio POSTs its status callback form (MessageSid, MessageStatus, ErrorCode) signed with X-Twilio-Signature:
base64(HMAC-SHA1(auth token, the full URL + each POST parameter name and value, sorted by name)). Mitake calls the
`response` URL we gave it (msgid, dstaddr, statuscode or StatusFlag, statusstr, donetime) with the channel's
callback_secret as `?secret=`. A forged or unsigned receipt is refused (403), a malformed one answered 400.

Statuses only move a send forward (sent → delivered), never back. A send the provider failed to send at all
(Twilio "failed", Mitake 5–9) is marked failed and refunded; Twilio "undelivered" is failed but charged by Twilio,
so it is not refunded.
"""

import base64
import hashlib
import hmac

from django.utils import timezone

from cdp.models import Channel, ChannelKind

from ..models import OutboundMessage, OutboundStatus
from . import outbox


class ReceiptRejected(Exception):
    def __init__(self, status, reason):
        super().__init__(reason)
        self.status, self.reason = status, reason


def twilio_signature(url, params, auth_token):
    data = url + "".join(f"{key}{value}" for key, value in sorted(params.items()))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


MITAKE_DELIVERED = {"4"}
MITAKE_FAILED = {"5", "6", "7", "8", "9"}


def receive(channel_id, *, url, params, signature="", secret=""):
    """Check and apply one receipt. `params`: the form or query fields (one value each)."""
    channel = Channel.objects.filter(pk=channel_id, kind=ChannelKind.SMS, is_sandbox=False).first()
    if channel is None:
        raise ReceiptRejected(404, "unknown SMS channel")
    provider = channel.credentials.get("provider")
    if provider == "twilio":
        token = channel.credentials.get("auth_token", "")
        if not token or not signature or not hmac.compare_digest(twilio_signature(url, params, token), signature):
            raise ReceiptRejected(403, "bad X-Twilio-Signature")
        sid, status, code = params.get("MessageSid", ""), params.get("MessageStatus", ""), params.get("ErrorCode", "")
        if not sid or status not in {"queued", "sending", "sent", "delivered", "undelivered", "failed", "accepted"}:
            raise ReceiptRejected(400, "MessageSid and a known MessageStatus are required")
        outcome = {"delivered": "delivered", "failed": "failed", "undelivered": "undelivered"}.get(status, "")
        return _apply(channel, sid, outcome, code, f"Twilio {status}", refund=status == "failed")
    if provider == "mitake":
        expected = channel.credentials.get("callback_secret", "")
        if not expected or not secret or not hmac.compare_digest(expected, secret):
            raise ReceiptRejected(403, "bad secret")
        msgid = params.get("msgid", "")
        code = params.get("StatusFlag") or params.get("statuscode", "")
        if not msgid or not code:
            raise ReceiptRejected(400, "msgid and statuscode are required")
        outcome = "delivered" if code in MITAKE_DELIVERED else "failed" if code in MITAKE_FAILED else ""
        reason = params.get("statusstr") or f"Mitake {code}"
        return _apply(channel, msgid, outcome, f"mitake_{code}", reason, refund=True)
    raise ReceiptRejected(404, "the channel has no SMS provider")


def _apply(channel, provider_id, outcome, code, reason, *, refund):
    message = (
        OutboundMessage.objects.filter(team_id=channel.team_id, channel=channel, provider_message_id=provider_id)
        .select_related("channel", "contact", "team")
        .first()
    )
    if message is None or not outcome:
        return message
    if outcome == "delivered":
        OutboundMessage.objects.filter(pk=message.pk, status=OutboundStatus.SENT).update(
            status=OutboundStatus.DELIVERED, delivered_at=timezone.now()
        )
    elif refund:
        outbox.mark_failed(message, code, reason)
    else:
        OutboundMessage.objects.filter(pk=message.pk).exclude(status=OutboundStatus.FAILED).update(
            status=OutboundStatus.FAILED, error_code=str(code)[:64], error_reason=reason[:500]
        )
    return message
