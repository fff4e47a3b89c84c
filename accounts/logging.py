"""The one logging filter that keeps credentials out of every log line (installed on the handlers in
settings.LOGGING): `access_token=…` and other secret-named keys in query strings, JSON and headers, Bearer /
Basic credentials, and the secret values this process knows (SECRET_KEY, channel secrets it has read)."""

import logging
import re
import traceback

from django.conf import settings

REDACTED = "[redacted]"
# Key names that hold a credential: every secret key of cdp.credentials matches (a test checks it).
SENSITIVE_NAME = re.compile(r"(?i)(token|secret|password|passwd|api[_-]?key|aes[_-]?key|signature)")
_KEY_VALUE = re.compile(
    r"""(?ix)
    (\b[\w.-]*(?:token|secret|password|passwd|api[_-]?key|aes[_-]?key|signature)[\w.-]*   # the key name
     ["']?\s*[=:]\s*["']?)                                                   # = or : and an opening quote
    (?!\[redacted\])([^"'&\s,;}\]]+)                                         # the value
    """
)
_SCHEME = re.compile(r"(?i)\b(bearer|basic|oauth)\s+(?!\[redacted\])[A-Za-z0-9._~+/=-]+")
MIN_KNOWN_LENGTH = 8  # shorter values would redact ordinary words
MAX_KNOWN = 10_000
_known = frozenset()  # replaced, never changed in place: log calls in other threads iterate it


def remember_secrets(values):
    """Redact these values wherever they appear (e.g. a channel's secrets, when this process reads them)."""
    global _known
    new = {v for v in values if isinstance(v, str) and len(v) >= MIN_KNOWN_LENGTH and v not in _known}
    if new and len(_known) < MAX_KNOWN:
        _known = _known | new


def remember_credentials(credentials):
    """The values of the secret-named keys of a credentials dict."""
    remember_secrets(value for key, value in credentials.items() if SENSITIVE_NAME.search(key))


def redact(text):
    text = _SCHEME.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _KEY_VALUE.sub(lambda m: m.group(1) + REDACTED, text)
    for value in (settings.SECRET_KEY, *settings.CHANNEL_SECRET_KEYS, *_known):
        if value and value in text:
            text = text.replace(value, REDACTED)
    return text


class RedactSecrets(logging.Filter):
    def filter(self, record):
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
