"""WhatsApp Cloud API: POST /{phone-number-id}/messages; templates from /{waba-id}/message_templates.

Error codes (send answers and `statuses[].errors` alike) are mapped by `classify`: 131042 payment → the
channel's budget is exhausted; 132001 / 132015 / 132016 → the template is unusable; 131050 → the user stopped
marketing messages; 130429 / 131056 → retry later.
"""

from urllib.parse import urlencode

from django.conf import settings

from .base import BUDGET, PERMANENT, RETRYABLE, TEMPLATE, UNSUBSCRIBED, SendResult, Transport, network_failure

ERROR_KINDS = {
    131042: BUDGET,
    132001: TEMPLATE,
    132015: TEMPLATE,
    132016: TEMPLATE,
    131050: UNSUBSCRIBED,
    130429: RETRYABLE,
    131056: RETRYABLE,
    131000: RETRYABLE,
    131016: RETRYABLE,
    1: RETRYABLE,
    2: RETRYABLE,
    4: RETRYABLE,
}


def classify(code):
    try:
        return ERROR_KINDS.get(int(code), PERMANENT)
    except (TypeError, ValueError):
        return PERMANENT


class WhatsAppTransport(Transport):
    kind = "whatsapp"

    @property
    def base(self):
        return settings.MESSAGING_WHATSAPP_API_BASE.rstrip("/")

    def send(self, *, recipient, payload, retry_key):
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", **payload}
        if recipient.startswith("+") or recipient.isdigit():
            body["to"] = recipient.lstrip("+")
        else:  # a business-scoped user id (no phone number known)
            body["recipient"] = recipient
        url = f"{self.base}/{self.channel.external_id}/messages"
        response = self.request("POST", url, body=body, headers=self.headers())
        if response.status == 0:
            return network_failure(response)
        data = response.json()
        if response.status == 200 and data.get("messages"):
            return SendResult.success(data["messages"][0].get("id", ""))
        error = data.get("error") or {}
        code = error.get("code", response.status)
        reason = (error.get("error_data") or {}).get("details") or error.get("message") or f"HTTP {response.status}"
        kind = classify(code)
        if kind == PERMANENT and response.status >= 500:
            kind = RETRYABLE
        return SendResult.failure(kind, str(code), reason)

    def list_templates(self):
        """Every template of the WhatsApp Business Account (follows paging)."""
        waba = self.credentials.get("waba_id", "")
        query = urlencode({"fields": "id,name,language,category,status,components", "limit": 100})
        url = f"{self.base}/{waba}/message_templates?{query}"
        found = []
        while url:
            response = self.request("GET", url, headers=self.headers())
            if response.status != 200:
                raise ConnectionError(f"WhatsApp templates: HTTP {response.status}")
            data = response.json()
            found.extend(data.get("data", []))
            url = (data.get("paging") or {}).get("next")
        return found

    def test_connection(self):
        url = f"{self.base}/{self.channel.external_id}?fields=display_phone_number,verified_name"
        response = self.request("GET", url, headers=self.headers())
        data = response.json()
        if response.status == 200:
            return True, f"{data.get('verified_name', '')} {data.get('display_phone_number', '')}".strip()
        return False, f"HTTP {response.status}: {(data.get('error') or {}).get('message', '')}"
