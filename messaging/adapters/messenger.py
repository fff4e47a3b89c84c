"""Facebook Messenger Send API: POST /{page-id}/messages with the page access token.

The token goes in the Authorization header (the Graph API accepts `Bearer`), never in the URL, so no URL that
reaches a log or a proxy carries it.
"""

from django.conf import settings

from .base import Transport
from .meta import graph_result


class MessengerTransport(Transport):
    kind = "facebook"

    @property
    def base(self):
        return settings.MESSAGING_META_GRAPH_BASE.rstrip("/")

    def messages_url(self):
        return f"{self.base}/{self.channel.external_id or 'me'}/messages"

    def send(self, *, recipient, payload, retry_key):
        body = {"recipient": payload.get("recipient") or {"id": recipient}}
        # Recurring notifications (outside the 24-hour window) are addressed by notification_messages_token
        # and carry no messaging_type: the outbox passes messaging_type None for them.
        messaging_type = payload.get("messaging_type", "RESPONSE")
        if messaging_type:
            body["messaging_type"] = messaging_type
        body["message"] = payload["message"]
        if payload.get("tag"):
            body["tag"] = payload["tag"]
        return graph_result(self.request("POST", self.messages_url(), body=body, headers=self.headers()))

    def test_connection(self):
        url = f"{self.base}/{self.channel.external_id or 'me'}?fields=id,name"
        response = self.request("GET", url, headers=self.headers())
        data = response.json()
        if response.status == 200:
            return True, data.get("name", "") or data.get("id", "")
        return False, f"HTTP {response.status}: {(data.get('error') or {}).get('message', '')}"
