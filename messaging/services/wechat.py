"""WeChat Official Account (微信公眾號) webhooks: server URL verification, plaintext and 安全模式 messages.

- Verification and plaintext POSTs: `signature` = SHA-1 of the sorted token, timestamp and nonce (query string).
- 安全模式 (and 兼容模式's encrypted half), `encrypt_type=aes`: `msg_signature` = SHA-1 of the sorted token,
  timestamp, nonce and the body's <Encrypt>; the ciphertext is AES-256-CBC with the 32-byte key
  base64("EncodingAESKey=") and its first 16 bytes as IV, padded PKCS#7 to WeChat's 32-byte block. The plaintext
  is 16 random bytes, the message length (4 bytes, network order), the XML message and the AppID, which must be
  the channel's.
- Each message or event becomes one durable WebhookEvent row (processed by messaging.services.processing like
  every platform's), deduplicated as WeChat advises: messages by MsgId; events by FromUserName + CreateTime
  (plus the event name, so a LOCATION report in the same second as a subscribe never hides it).
"""

import base64
import hashlib
import hmac
import os
import re
import struct
import xml.etree.ElementTree as ET

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .ingest import MALFORMED, Rejected, _malformed, _rejected_row, _row, _s

BLOCK = 32  # WeChat pads to 32 bytes (not AES's 16)
EVENT_KINDS = {"subscribe", "unsubscribe", "scan", "click", "view", "location", "templatesendjobfinish"}
QR_SCENE_PREFIX = "qrscene_"  # a subscribe through a parametric QR code carries EventKey "qrscene_<scene>"
CDATA = re.compile(rb"<!\[CDATA\[.*?\]\]>", re.DOTALL)


# ----------------------------------------------------------------------------------------------- signatures
def signature(*parts):
    """WeChat's signature: SHA-1 hex of the parts sorted as strings and joined."""
    return hashlib.sha1("".join(sorted(str(p) for p in parts)).encode()).hexdigest()


def _matches(expected, given):
    return bool(given) and hmac.compare_digest(expected.encode(), str(given).strip().lower().encode())


def verify_url(channel, query):
    """The GET of the server URL check: `echostr` when the signature is right, else Rejected(403)."""
    token = (channel.credentials or {}).get("token", "")
    expected = signature(token, query.get("timestamp", ""), query.get("nonce", ""))
    if not token or not _matches(expected, query.get("signature")):
        raise Rejected(403, "bad signature")
    return query.get("echostr", "")


# ------------------------------------------------------------------------------------------------- crypto
def aes_key(encoding_aes_key):
    key = base64.b64decode(encoding_aes_key + "=")
    if len(key) != 32:
        raise ValueError("EncodingAESKey must be 43 characters of base64 (32 bytes)")
    return key


def _cipher(key):
    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


def encrypt(encoding_aes_key, app_id, xml, *, random=None):
    """What WeChat sends in <Encrypt> (and what a passive encrypted reply carries)."""
    key = aes_key(encoding_aes_key)
    message = xml.encode() if isinstance(xml, str) else xml
    text = (random or os.urandom(16)) + struct.pack(">I", len(message)) + message + app_id.encode()
    pad = BLOCK - len(text) % BLOCK
    text += bytes([pad]) * pad
    encryptor = _cipher(key).encryptor()
    return base64.b64encode(encryptor.update(text) + encryptor.finalize()).decode()


def decrypt(encoding_aes_key, app_id, encrypted):
    """The XML inside <Encrypt>; Rejected(401) when it does not decrypt or names another AppID."""
    try:
        key = aes_key(encoding_aes_key)
        data = base64.b64decode(encrypted, validate=True)
        if not data or len(data) % 16:
            raise ValueError("ciphertext length")
        decryptor = _cipher(key).decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise ValueError("bad padding")
        content = plain[16:-pad]
        (length,) = struct.unpack(">I", content[:4])
        xml, from_app_id = content[4 : 4 + length], content[4 + length :]
        if len(xml) != length:
            raise ValueError("bad length")
    except (ValueError, TypeError, struct.error) as exc:
        raise Rejected(401, "message does not decrypt") from exc
    if not hmac.compare_digest(from_app_id, app_id.encode()):
        raise Rejected(401, "AppID mismatch")
    return xml


# ---------------------------------------------------------------------------------------------------- XML
def load_xml(body):
    """WeChat's <xml> as a dict (nested elements as dicts). No DTDs: WeChat never sends one, and entities are
    the classic XML attack, so any declaration is refused before parsing."""
    if b"<!" in CDATA.sub(b"", body):  # a customer's "<!" inside CDATA text is fine
        raise Rejected(400, "XML declarations are not accepted")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise Rejected(400, "malformed XML") from exc
    if root.tag != "xml":
        raise Rejected(400, "not a WeChat message")
    return _as_dict(root)


def _as_dict(element):
    return {child.tag: (_as_dict(child) if len(child) else (child.text or "")) for child in element}


# ------------------------------------------------------------------------------------------------- intake
def parse(channel, body, query):
    """Verify one POST (plaintext or encrypted) and return its WebhookEvent row. Raises Rejected."""
    credentials = channel.credentials or {}
    token = credentials.get("token", "")
    if not token:
        raise Rejected(404, "channel has no token")
    timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
    if query.get("encrypt_type") == "aes":
        outer = load_xml(body)
        encrypted = outer.get("Encrypt")
        if not isinstance(encrypted, str) or not encrypted:
            raise Rejected(400, "Encrypt missing")
        if not _matches(signature(token, timestamp, nonce, encrypted), query.get("msg_signature")):
            raise Rejected(401, "bad signature")
        encoding_aes_key = credentials.get("encoding_aes_key", "")
        if not encoding_aes_key:
            raise Rejected(400, "encrypted message but the channel has no EncodingAESKey")
        message = load_xml(decrypt(encoding_aes_key, credentials.get("app_id", ""), encrypted))
    else:
        if not _matches(signature(token, timestamp, nonce), query.get("signature")):
            raise Rejected(401, "bad signature")
        message = load_xml(body)
    return [_event_row(channel, message)]


def _event_row(channel, message):
    msg_type = str(message.get("MsgType", "")).lower()
    user = str(message.get("FromUserName", ""))
    event = str(message.get("Event", "")).lower()
    if msg_type == "event":
        kind = event if event in EVENT_KINDS else "event"
        key = f"wechat:{channel.pk}:event:{user}:{message.get('CreateTime', '')}:{event}"
    else:
        kind = "message"
        key = f"wechat:{channel.pk}:msg:{message.get('MsgId') or message.get('MsgID') or ''}"
    original_id = (channel.credentials or {}).get("original_id", "")
    try:
        if not user:
            raise KeyError("FromUserName")
        if kind == "message" and not (message.get("MsgId") or message.get("MsgID")):
            raise KeyError("MsgId")
        if original_id and message.get("ToUserName") != original_id:
            raise ValueError(f"ToUserName {str(message.get('ToUserName'))[:40]} is not this account")
        occurred_at = _s(message.get("CreateTime"))
    except MALFORMED as exc:
        return _rejected_row(channel, key, kind, user, message, _malformed(exc))
    return _row(channel, key, kind, user, occurred_at, message)


def scene_of(payload):
    """The QR scene of a subscribe (EventKey "qrscene_<scene>") or SCAN event (EventKey "<scene>"), else ''."""
    key = str(payload.get("EventKey") or "")
    if str(payload.get("Event", "")).lower() == "subscribe":
        return key.removeprefix(QR_SCENE_PREFIX) if key.startswith(QR_SCENE_PREFIX) else ""
    return key


def text_of(payload):
    """What a WeChat message says, for conversations (keywords match text messages only)."""
    kind = str(payload.get("MsgType", "")).lower()
    if kind == "text":
        return str(payload.get("Content", ""))
    if kind == "image":
        return str(payload.get("PicUrl", ""))
    if kind == "voice":
        return str(payload.get("Recognition", ""))
    if kind == "location":
        label = payload.get("Label") or ""
        return f"{label} ({payload.get('Location_X', '')}, {payload.get('Location_Y', '')})".strip()
    if kind == "link":
        return " ".join(str(payload.get(k) or "") for k in ("Title", "Url")).strip()
    return ""


def union_id(payload):
    return str(payload.get("UnionId") or payload.get("UnionID") or payload.get("unionid") or "")
