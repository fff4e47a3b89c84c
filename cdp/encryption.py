"""Channel secrets at rest: Fernet with the keys in CHANNEL_SECRET_KEYS (MultiFernet: the first key encrypts,
every key decrypts, so keys can be rotated). Without that setting a key is derived from SECRET_KEY, so a fresh
clone works; production sets its own keys (README, "Channel secrets").

`EncryptedJSONField` stores a dict as one Fernet token in a text column and gives readers the plain dict, so
adapters, webhook signature checks and forms never know. Rows written before encryption (plain JSON) are
still read, and are encrypted by migration cdp 0008 and by any later save.
"""

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

from accounts.logging import remember_credentials

TOKEN_PREFIX = "gAAAAA"  # every Fernet token (version byte 0x80 + timestamp high bytes) starts so
_fernets = {}
_decrypted = {}  # (keys, token) -> dict
MAX_DECRYPTED = 4096


def derived_key(secret_key):
    return base64.urlsafe_b64encode(hashlib.sha256(f"channel-secrets:{secret_key}".encode()).digest()).decode()


def _keys():
    return tuple(settings.CHANNEL_SECRET_KEYS) or (derived_key(settings.SECRET_KEY),)


def fernet():
    """The MultiFernet of the configured keys (built once per distinct setting)."""
    keys = _keys()
    if keys not in _fernets:
        try:
            _fernets[keys] = MultiFernet([Fernet(key) for key in keys])
        except ValueError as exc:
            raise ImproperlyConfigured(f"CHANNEL_SECRET_KEYS: each key must be 32 url-safe base64 bytes ({exc})")
    return _fernets[keys]


def encrypt(data):
    return fernet().encrypt(json.dumps(data, ensure_ascii=False).encode()).decode()


def decrypt(text):
    """The dict inside a token (a copy: callers may change it). Tokens decrypted before are remembered, bounded,
    so a batch of outbox rows that joins the same channel pays for one decryption (about 50 µs), not one per row."""
    if not text:
        return {}
    if not text.startswith(TOKEN_PREFIX):  # stored before encryption
        return json.loads(text)
    memo = (_keys(), text)
    plain = _decrypted.get(memo)
    if plain is None:
        try:
            plain = json.loads(fernet().decrypt(text.encode()))
        except InvalidToken:
            raise ImproperlyConfigured(
                "Channel credentials cannot be decrypted: CHANNEL_SECRET_KEYS lacks the key they were encrypted with."
            ) from None
        if len(_decrypted) >= MAX_DECRYPTED:
            _decrypted.clear()
        _decrypted[memo] = plain
    return dict(plain)


def rotate(text):
    """The same secret under the first key (MultiFernet.rotate); plain JSON rows get encrypted."""
    if not text or not text.startswith(TOKEN_PREFIX):
        return encrypt(decrypt(text))
    return fernet().rotate(text.encode()).decode()


class EncryptedJSONField(models.TextField):
    """A dict stored encrypted; reads give the dict. Not searchable (nothing filters on credentials)."""

    def from_db_value(self, value, expression, connection):
        credentials = decrypt(value)
        remember_credentials(credentials)  # so no log line of this process can show them
        return credentials

    def to_python(self, value):
        return value if isinstance(value, dict) else decrypt(value)

    def get_prep_value(self, value):
        return encrypt(value if value is not None else {})

    def value_to_string(self, obj):
        return self.get_prep_value(self.value_from_object(obj))
