"""Instagram messaging (Instagram API with Instagram Login): POST /{ig-user-id}/messages with a Bearer token."""

from django.conf import settings

from .base import Transport
from .meta import graph_result


class InstagramTransport(Transport):
    kind = "instagram"

    @property
    def base(self):
        return settings.MESSAGING_INSTAGRAM_API_BASE.rstrip("/")

    def send(self, *, recipient, payload, retry_key):
        # A private reply to a comment is addressed by {"comment_id": ...} (messaging.services.comments).
        body = {"recipient": payload.get("recipient") or {"id": recipient}, "message": payload["message"]}
        url = f"{self.base}/{self.channel.external_id or 'me'}/messages"
        return graph_result(self.request("POST", url, body=body, headers=self.headers()))

    def test_connection(self):
        response = self.request("GET", f"{self.base}/me?fields=user_id,username", headers=self.headers())
        data = response.json()
        if response.status == 200:
            return True, data.get("username", "") or str(data.get("user_id", ""))
        return False, f"HTTP {response.status}: {(data.get('error') or {}).get('message', '')}"
