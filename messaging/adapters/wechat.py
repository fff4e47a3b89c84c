"""WeChat Official Account: Customer Service Messages (cgi-bin/message/custom/send, within 48 hours of the
customer's last message) and template messages (cgi-bin/message/template/send, at any time).

WeChat takes the access token as `?access_token=` (it has no header form; the logging filter redacts it). The
token comes from the shared store (messaging.services.wechat_tokens, given as `tokens`); an answer of 40001 /
40014 / 42001 (invalid or expired token) makes the store fetch a new one once and the send is retried once.
Errors are WeChat's `errcode` in a 200 answer: -1 (busy), 45009 / 45047 (rate limits) are retried later;
anything else fails the send with WeChat's errmsg.
"""

from urllib.parse import urlencode

from django.conf import settings

from .base import PERMANENT, RETRYABLE, SendResult, Transport, network_failure

TOKEN_ERRORS = {40001, 40014, 42001}
RETRYABLE_ERRORS = {-1, 45009, 45047}


class TokenFailure(Exception):
    def __init__(self, errcode, errmsg):
        super().__init__(f"{errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class WeChatTransport(Transport):
    kind = "wechat"

    def __init__(self, channel, tokens):
        super().__init__(channel)
        self.tokens = tokens  # callable(channel, fetch, stale="") -> token (messaging.services.wechat_tokens)

    @property
    def base(self):
        return settings.MESSAGING_WECHAT_API_BASE.rstrip("/")

    def headers(self):
        return {}

    def fetch_token(self):
        """cgi-bin/token with the AppID and AppSecret: (access_token, expires_in)."""
        query = urlencode(
            {
                "grant_type": "client_credential",
                "appid": self.credentials.get("app_id", ""),
                "secret": self.credentials.get("app_secret", ""),
            }
        )
        response = self.request("GET", f"{self.base}/cgi-bin/token?{query}")
        if response.status == 0:
            raise TokenFailure("network", response.body.decode(errors="replace"))
        data = response.json() if response.status == 200 else {}
        if not data.get("access_token"):
            raise TokenFailure(data.get("errcode", response.status), data.get("errmsg", f"HTTP {response.status}"))
        return data["access_token"], int(data.get("expires_in") or 7200)

    def _post(self, path, body, stale=""):
        token = self.tokens(self.channel, self.fetch_token, stale=stale)
        response = self.request("POST", f"{self.base}{path}?{urlencode({'access_token': token})}", body=body)
        return token, response

    def call(self, path, body):
        """POST to the API with the shared token; an invalid-token answer refreshes it once and retries once.
        Raises TokenFailure when no token can be had."""
        token, response = self._post(path, body)
        if response.status == 200 and response.json().get("errcode") in TOKEN_ERRORS:
            _token, response = self._post(path, body, stale=token)
        return response

    def send(self, *, recipient, payload, retry_key):
        if "template" in payload:
            path, body = "/cgi-bin/message/template/send", {"touser": recipient, **payload["template"]}
        else:
            path, body = "/cgi-bin/message/custom/send", {"touser": recipient, **payload["message"]}
        try:
            response = self.call(path, body)
        except TokenFailure as exc:
            kind = RETRYABLE if exc.errcode == "network" or exc.errcode in RETRYABLE_ERRORS else PERMANENT
            return SendResult.failure(kind, f"token:{exc.errcode}", exc.errmsg)
        return self._result(response)

    def create_qr(self, scene):
        """A permanent parametric QR code (QR_LIMIT_STR_SCENE): the URL the QR image encodes. Scanning it sends a
        subscribe (EventKey "qrscene_<scene>") or SCAN (EventKey "<scene>") event. ConnectionError on failure."""
        body = {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": scene}}}
        try:
            response = self.call("/cgi-bin/qrcode/create", body)
        except TokenFailure as exc:
            raise ConnectionError(f"WeChat {exc.errcode}: {exc.errmsg}") from exc
        data = response.json()
        if response.status != 200 or not data.get("url"):
            raise ConnectionError(f"WeChat {data.get('errcode', response.status)}: {data.get('errmsg', '')}")
        return data["url"]

    def _result(self, response):
        if response.status == 0:
            return network_failure(response)
        if response.status != 200:
            kind = RETRYABLE if response.status >= 500 or response.status == 429 else PERMANENT
            return SendResult.failure(kind, str(response.status), response.body.decode(errors="replace")[:200])
        data = response.json()
        code = data.get("errcode", 0)
        if code == 0:
            return SendResult.success(str(data.get("msgid") or ""))
        kind = RETRYABLE if code in RETRYABLE_ERRORS else PERMANENT
        return SendResult.failure(kind, str(code), data.get("errmsg") or f"errcode {code}")

    def test_connection(self):
        try:
            self.tokens(self.channel, self.fetch_token)
        except TokenFailure as exc:
            return False, f"{exc.errcode}: {exc.errmsg}"
        return True, f"AppID {self.credentials.get('app_id', '')}"
