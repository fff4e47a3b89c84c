"""SMS providers behind the one Transport interface: the sandbox, Twilio's Messages API and Mitake (三竹).

The payload is {"text": ...}; the recipient is an E.164 number. A successful SendResult carries `segments` (則)
in `extra`: the provider's own count when it reports one (Twilio's num_segments), else our estimate (`segments`).

Segments (則). A message fits one SMS when it is GSM-7 text of at most 160 characters (characters of the GSM
extension table, such as € or {, count twice) or UCS-2 text (anything outside GSM-7: Chinese, emoji) of at most 70
UTF-16 units. A longer message is split into parts of 153 (GSM-7) or 67 (UCS-2), each a 則.
"""

import base64
import math
from urllib.parse import urlencode

from django.conf import settings

from .base import PERMANENT, RETRYABLE, SendResult, Transport, network_failure

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")


def segments(text):
    """How many 則 `text` is sent as (the rule in the module docstring)."""
    text = text or ""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text):
        units = sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)
        single, part = 160, 153
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part = 70, 67
    if units <= single:
        return 1
    return math.ceil(units / part)


class SmsTransport(Transport):
    """Shared by the SMS providers: form-encoded HTTP, and the status callback URL the provider reports to."""

    provider = ""

    def __init__(self, channel, status_callback=""):
        super().__init__(channel)
        self.status_callback = status_callback

    def post_form(self, url, fields, headers=None):
        headers = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        return self.request("POST", url, data=urlencode(fields).encode(), headers=headers)


class SandboxSmsTransport(SmsTransport):
    """No network: every SMS is accepted, with our segment estimate."""

    kind = "sms"
    provider = "sandbox"

    def send(self, *, recipient, payload, retry_key):
        return SendResult.success(f"sandbox-sms-{retry_key}", segments=segments(payload["text"]))

    def test_connection(self):
        return True, "sandbox"


# Twilio: 429 and 5xx are retried; every other error (21211 invalid To, 21610 the number replied STOP, 20003
# authentication) fails the send with Twilio's code and message. A STOP is about the phone, not the contact's
# channel subscription, so it is not recorded as an unsubscribe.


class TwilioTransport(SmsTransport):
    """POST /2010-04-01/Accounts/{AccountSid}/Messages.json, form-encoded To / From / Body / StatusCallback, basic
    auth (Account SID : Auth Token). 201 answers the message resource: sid, status, num_segments."""

    kind = "sms"
    provider = "twilio"

    @property
    def base(self):
        return settings.MESSAGING_TWILIO_API_BASE.rstrip("/")

    def headers(self):
        raw = f"{self.credentials.get('account_sid', '')}:{self.credentials.get('auth_token', '')}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    def account_url(self):
        return f"{self.base}/2010-04-01/Accounts/{self.credentials.get('account_sid', '')}"

    def send(self, *, recipient, payload, retry_key):
        fields = {"To": recipient, "Body": payload["text"]}
        if self.credentials.get("messaging_service_sid"):
            fields["MessagingServiceSid"] = self.credentials["messaging_service_sid"]
        else:
            fields["From"] = self.credentials.get("from_number", "")
        if self.status_callback:
            fields["StatusCallback"] = self.status_callback
        response = self.post_form(f"{self.account_url()}/Messages.json", fields, self.headers())
        if response.status == 0:
            return network_failure(response)
        data = response.json()
        if response.status in (200, 201) and data.get("sid"):
            if data.get("status") == "failed":
                return SendResult.failure(PERMANENT, str(data.get("error_code") or "failed"), "Twilio: failed")
            try:
                count = int(data.get("num_segments") or 0)
            except (TypeError, ValueError):
                count = 0
            return SendResult.success(data["sid"], segments=count or segments(payload["text"]))
        code = data.get("code") or response.status
        reason = data.get("message") or response.body.decode(errors="replace")[:200] or f"HTTP {response.status}"
        if response.status == 429 or response.status >= 500:
            return SendResult.failure(RETRYABLE, str(code), reason)
        return SendResult.failure(PERMANENT, str(code), reason)

    def test_connection(self):
        response = self.request("GET", f"{self.account_url()}.json", headers=self.headers())
        data = response.json()
        if response.status == 200:
            return True, f"{data.get('friendly_name', '')} ({data.get('status', '')})".strip()
        return False, f"HTTP {response.status}: {data.get('message', '')}"


# Mitake statuscode of a send: 0 reserved, 1/2 delivered to the carrier, 4 delivered to the phone are accepted;
# the letters are account or system errors (a, b, r: service paused → retry later), 5–9 message errors.
MITAKE_ACCEPTED = {"0", "1", "2", "4"}
MITAKE_RETRYABLE = {"*", "a", "b", "r"}
MITAKE_REASONS = {
    "*": "系統發生錯誤",
    "a": "簡訊發送功能暫時停止服務",
    "b": "簡訊發送功能暫時停止服務",
    "c": "請輸入帳號",
    "d": "請輸入密碼",
    "e": "帳號、密碼錯誤",
    "f": "帳號已過期",
    "h": "帳號已被停用",
    "k": "無效的連線位址",
    "m": "必須變更密碼",
    "n": "密碼已逾期",
    "p": "沒有權限使用外部 Http 程式",
    "r": "系統暫停服務",
    "s": "帳務處理失敗",
    "t": "簡訊已過期",
    "u": "簡訊內容不得為空白",
    "v": "無效的手機號碼",
    "5": "內容有錯誤",
    "6": "門號有錯誤",
    "7": "簡訊已停用",
    "8": "逾時無送達",
    "9": "預約已取消",
}


def parse_mitake(body):
    """Mitake's answer: `key=value` lines (after a `[1]` section header); returns a dict."""
    fields = {}
    for line in body.decode("utf-8", errors="replace").splitlines():
        key, sep, value = line.strip().partition("=")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def mitake_number(e164):
    """Mitake takes Taiwan numbers in national form (09xxxxxxxx), others as digits with the country code."""
    if e164.startswith("+886"):
        return "0" + e164[4:]
    return e164.lstrip("+")


class MitakeTransport(SmsTransport):
    """三竹 SmSend: POST {base}/api/mtk/SmSend?CharsetURL=UTF8, form-encoded username / password / dstaddr /
    smbody / response (the receipt URL) / clientid (our retry key: Mitake refuses a duplicate clientid within 12
    hours and answers Duplicate=Y, so a re-sent claim is not sent twice). Answer lines: msgid=, statuscode=,
    AccountPoint=. Mitake reports no segment count: we bill our estimate."""

    kind = "sms"
    provider = "mitake"

    @property
    def base(self):
        return settings.MESSAGING_MITAKE_API_BASE.rstrip("/")

    def send(self, *, recipient, payload, retry_key):
        fields = {
            "username": self.credentials.get("username", ""),
            "password": self.credentials.get("password", ""),
            "dstaddr": mitake_number(recipient),
            "smbody": payload["text"],
            "clientid": str(retry_key),
        }
        if self.status_callback:
            fields["response"] = self.status_callback
        response = self.post_form(f"{self.base}/api/mtk/SmSend?CharsetURL=UTF8", fields)
        if response.status == 0:
            return network_failure(response)
        if response.status >= 500 or response.status == 429:
            return SendResult.failure(RETRYABLE, str(response.status), f"Mitake HTTP {response.status}")
        data = parse_mitake(response.body)
        code = data.get("statuscode", "")
        if response.status == 200 and code in MITAKE_ACCEPTED and data.get("msgid"):
            return SendResult.success(
                data["msgid"],
                segments=segments(payload["text"]),
                account_point=data.get("AccountPoint", ""),
                duplicate=data.get("Duplicate") == "Y",
            )
        reason = data.get("Error") or MITAKE_REASONS.get(code) or f"Mitake HTTP {response.status}"
        kind = RETRYABLE if code in MITAKE_RETRYABLE else PERMANENT
        return SendResult.failure(kind, f"mitake_{code or response.status}", reason)

    def test_connection(self):
        # The password never goes in a URL: the point query is a form POST too.
        fields = {"username": self.credentials.get("username", ""), "password": self.credentials.get("password", "")}
        response = self.post_form(f"{self.base}/api/mtk/SmQuery?CharsetURL=UTF8", fields)
        data = parse_mitake(response.body)
        if response.status == 200 and "AccountPoint" in data:
            return True, f"AccountPoint={data['AccountPoint']}"
        return False, data.get("Error") or MITAKE_REASONS.get(data.get("statuscode", ""), f"HTTP {response.status}")


PROVIDERS = {"twilio": TwilioTransport, "mitake": MitakeTransport}


def sms_adapter(channel, status_callback=""):
    if channel.is_sandbox:
        return SandboxSmsTransport(channel, status_callback)
    provider = (channel.credentials or {}).get("provider", "")
    transport = PROVIDERS.get(provider)
    if transport is None:
        raise ValueError(f"No SMS provider {provider!r}")
    return transport(channel, status_callback)
