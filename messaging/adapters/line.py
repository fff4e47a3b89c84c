"""LINE Messaging API: reply, push, multicast, quota and consumption, bot info.

Every send carries `X-Line-Retry-Key` (the outbox row's UUID), so a request re-sent after a crash or a timeout
is accepted once: LINE answers 409 with `x-line-accepted-request-id` for a key it already accepted, which we
count as success. A 429 whose message is "You have reached your monthly limit." is the monthly quota (the
channel's budget is exhausted); any other 429 is a rate limit and is retried.
"""

from urllib.parse import quote

from django.conf import settings

from .base import BUDGET, PERMANENT, RETRYABLE, SendResult, Transport, network_failure

MONTHLY_LIMIT_MESSAGE = "You have reached your monthly limit."
MULTICAST_MAX = 500


class LineTransport(Transport):
    kind = "line"
    supports_multicast = True

    @property
    def base(self):
        return settings.MESSAGING_LINE_API_BASE.rstrip("/")

    def headers(self, retry_key=None):
        headers = super().headers()
        if retry_key:
            headers["X-Line-Retry-Key"] = str(retry_key)
        return headers

    def send(self, *, recipient, payload, retry_key):
        body = {"to": recipient, "messages": payload["messages"]}
        response = self.request("POST", f"{self.base}/v2/bot/message/push", body=body, headers=self.headers(retry_key))
        return self._result(response)

    def reply(self, *, reply_token, payload):
        """The free reply API: answers a webhook event with its replyToken (single use, valid about a minute)."""
        body = {"replyToken": reply_token, "messages": payload["messages"]}
        response = self.request("POST", f"{self.base}/v2/bot/message/reply", body=body, headers=self.headers())
        result = self._result(response)
        if result.ok:
            result.extra["reply"] = True
        return result

    def multicast(self, *, recipients, payload, retry_key):
        if len(recipients) > MULTICAST_MAX:
            raise ValueError(f"LINE multicast takes at most {MULTICAST_MAX} recipients")
        body = {"to": list(recipients), "messages": payload["messages"]}
        response = self.request(
            "POST", f"{self.base}/v2/bot/message/multicast", body=body, headers=self.headers(retry_key)
        )
        return self._result(response)

    def _result(self, response):
        if response.status == 0:
            return network_failure(response)
        data = response.json()
        if response.status == 200:
            sent = data.get("sentMessages") or [{}]
            return SendResult.success(sent[0].get("id", ""), request_id=response.headers.get("x-line-request-id", ""))
        if response.status == 409 and response.headers.get("x-line-accepted-request-id"):
            # The retry key was already accepted: the first attempt went through.
            return SendResult.success("", request_id=response.headers["x-line-accepted-request-id"])
        message = data.get("message") or response.body.decode(errors="replace")[:200]
        details = "; ".join(f"{d.get('property', '')}: {d.get('message', '')}" for d in data.get("details") or [])
        reason = f"{message} ({details})" if details else message
        if response.status == 429:
            if message.strip() == MONTHLY_LIMIT_MESSAGE:
                return SendResult.failure(BUDGET, "line_monthly_limit", message)
            return SendResult.failure(RETRYABLE, "429", reason)
        if response.status >= 500:
            return SendResult.failure(RETRYABLE, str(response.status), reason)
        return SendResult.failure(PERMANENT, str(response.status), reason)

    def quota(self):
        """(limit or None when unlimited, used this month) from the quota and consumption endpoints."""
        limit = self.request("GET", f"{self.base}/v2/bot/message/quota", headers=self.headers())
        used = self.request("GET", f"{self.base}/v2/bot/message/quota/consumption", headers=self.headers())
        if limit.status != 200 or used.status != 200:
            raise ConnectionError(f"LINE quota endpoints answered {limit.status} / {used.status}")
        data = limit.json()
        value = data.get("value") if data.get("type") == "limited" else None
        return value, int(used.json().get("totalUsage", 0))

    def follower_ids(self, start=""):
        """One page of GET /v2/bot/followers/ids (verified / premium accounts only): the raw response."""
        query = "limit=1000" + (f"&start={quote(start)}" if start else "")
        return self.request("GET", f"{self.base}/v2/bot/followers/ids?{query}", headers=self.headers())

    def profile(self, user_id):
        """GET /v2/bot/profile/{userId}: the raw response (displayName, pictureUrl, statusMessage, language)."""
        return self.request("GET", f"{self.base}/v2/bot/profile/{quote(user_id)}", headers=self.headers())

    def test_connection(self):
        response = self.request("GET", f"{self.base}/v2/bot/info", headers=self.headers())
        if response.status == 200:
            info = response.json()
            return True, f"{info.get('displayName', '')} {info.get('basicId', '')}".strip()
        return False, f"HTTP {response.status}: {response.json().get('message', '')}"
