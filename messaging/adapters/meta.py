"""Shared Graph API error handling for Messenger and Instagram."""

from .base import PERMANENT, RETRYABLE, SendResult, network_failure

# Graph API codes worth retrying: 1/2 temporary, 4/17/32/613 rate limits, 1200 temporary send error.
RETRYABLE_CODES = {1, 2, 4, 17, 32, 613, 1200}


def graph_result(response):
    if response.status == 0:
        return network_failure(response)
    data = response.json()
    if response.status == 200 and "error" not in data:
        return SendResult.success(data.get("message_id", ""), recipient_id=data.get("recipient_id", ""))
    error = data.get("error") or {}
    code = error.get("code")
    reason = error.get("message") or response.body.decode(errors="replace")[:200]
    subcode = error.get("error_subcode")
    code_text = f"{code}/{subcode}" if subcode else str(code or response.status)
    if code in RETRYABLE_CODES or response.status >= 500 or response.status == 429:
        return SendResult.failure(RETRYABLE, code_text, reason)
    return SendResult.failure(PERMANENT, code_text, reason)
