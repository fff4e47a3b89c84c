"""The credential keys of each channel kind: the one list the API, the console form, the adapters and the docs use.

Every kind names its access token `access_token` (the bearer token the adapters send). Older spellings are
accepted on input and stored under the one name: LINE's `channel_access_token` (the API's first spelling) and
Messenger's `page_access_token` (the console's); migration cdp 0008 renamed the rows stored before.
"""

import base64
import binascii
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from .models import ChannelKind


@dataclass(frozen=True)
class CredentialKey:
    name: str
    label: str
    required: bool = False  # needed to receive and send (a sandbox channel needs none)
    secret: bool = True  # never shown back; a password input in the console
    aliases: tuple = ()  # older spellings accepted on input
    generated: bool = False  # made up when not given (the webhook verify token)
    external_id: bool = False  # the platform's id of the account: also Channel.external_id


CHANNEL_SECRET = CredentialKey("channel_secret", _("Channel secret"), required=True)
APP_SECRET = CredentialKey("app_secret", _("App secret"), required=True)
VERIFY_TOKEN = CredentialKey("verify_token", _("驗證權杖（Verify token）"), generated=True)


def _access_token(*aliases):
    return CredentialKey("access_token", _("Access token"), required=True, aliases=aliases)


def _account_id(name, label):
    return CredentialKey(name, label, required=True, secret=False, external_id=True)


KEYS = {
    ChannelKind.LINE: (
        CHANNEL_SECRET,
        _access_token("channel_access_token"),
        CredentialKey("basic_id", _("LINE 官方帳號 ID（@...）"), secret=False),
    ),
    ChannelKind.FACEBOOK: (
        _account_id("page_id", _("粉絲專頁 ID")),
        APP_SECRET,
        VERIFY_TOKEN,
        _access_token("page_access_token"),
    ),
    ChannelKind.INSTAGRAM: (
        _account_id("ig_account_id", _("IG 帳號 ID")),
        APP_SECRET,
        VERIFY_TOKEN,
        _access_token(),
        CredentialKey("username", _("IG 使用者名稱"), secret=False),
    ),
    ChannelKind.WHATSAPP: (
        _account_id("phone_number_id", _("WhatsApp phone_number_id")),
        APP_SECRET,
        VERIFY_TOKEN,
        _access_token(),
        CredentialKey("waba_id", _("WhatsApp 商業帳號 ID"), secret=False),
        CredentialKey("display_phone_number", _("WhatsApp 電話號碼"), secret=False),
    ),
    # WeChat: the AppID is the account's id; `token` signs the webhook (server URL check and every POST); with
    # `encoding_aes_key` (43 characters) 安全模式 messages are decrypted; `original_id` (gh_...) is the
    # ToUserName every message must carry when given.
    ChannelKind.WECHAT: (
        _account_id("app_id", _("AppID")),
        CredentialKey("app_secret", _("AppSecret"), required=True),
        CredentialKey("token", _("WeChat Token（令牌）"), required=True),
        CredentialKey("encoding_aes_key", _("EncodingAESKey（安全模式）")),
        CredentialKey("original_id", _("原始 ID（gh_...）"), secret=False, aliases=("external_id",)),
    ),
    ChannelKind.WEB: (CredentialKey("external_id", _("網站網域"), secret=False, external_id=True),),
    # SMS: one provider per channel. Twilio needs account_sid, auth_token and a sender (from_number or
    # messaging_service_sid); Mitake (三竹) needs username and password. callback_secret is the shared secret in
    # the Mitake delivery-receipt URL (Twilio receipts are signed with auth_token instead).
    ChannelKind.SMS: (
        CredentialKey("provider", _("簡訊供應商（twilio / mitake）"), required=True, secret=False),
        CredentialKey("account_sid", _("Twilio Account SID"), secret=False),
        CredentialKey("auth_token", _("Twilio Auth Token")),
        CredentialKey("from_number", _("寄件號碼（E.164）"), secret=False),
        CredentialKey("messaging_service_sid", _("Twilio Messaging Service SID"), secret=False),
        CredentialKey("username", _("三竹帳號"), secret=False),
        CredentialKey("password", _("三竹密碼")),
        CredentialKey("callback_secret", _("回報網址密鑰"), generated=True),
    ),
}

# The keys each SMS provider needs besides `provider` (a tuple inside is "one of these").
SMS_PROVIDERS = {
    "twilio": ("account_sid", "auth_token", ("from_number", "messaging_service_sid")),
    "mitake": ("username", "password"),
}


def sms_provider_errors(cleaned, *, partial=False):
    """Errors for an SMS channel's credentials: a known provider and, unless partial, the keys it needs."""
    provider = cleaned.get("provider")
    if provider not in SMS_PROVIDERS:
        return {"credentials.provider": [_("簡訊供應商必須是：%(names)s") % {"names": ", ".join(SMS_PROVIDERS)}]}
    if partial:
        return {}
    errors = {}
    for need in SMS_PROVIDERS[provider]:
        names = need if isinstance(need, tuple) else (need,)
        if not any(cleaned.get(name) for name in names):
            errors[f"credentials.{names[0]}"] = [_("%(provider)s 必填。") % {"provider": provider}]
    return errors


def wechat_errors(cleaned):
    """An EncodingAESKey is 43 characters of base64 (32 bytes once WeChat's "=" is added)."""
    value = cleaned.get("encoding_aes_key")
    if value is None:
        return {}
    try:
        ok = len(value) == 43 and len(base64.b64decode(value + "=", validate=True)) == 32
    except (ValueError, binascii.Error):
        ok = False
    return {} if ok else {"credentials.encoding_aes_key": [_("EncodingAESKey 必須是 43 個字元。")]}


def keys(kind):
    return KEYS.get(kind, ())


def external_id_key(kind):
    """The credential that is the platform's id of the account (None for LINE: its bot id arrives by webhook)."""
    return next((key.name for key in keys(kind) if key.external_id), None)


def canonical_name(kind, name):
    """The one name of a credential key given in any accepted spelling (unknown names come back unchanged)."""
    for key in keys(kind):
        if name == key.name or name in key.aliases:
            return key.name
    return name


def normalise(kind, credentials):
    """Old spellings renamed to the one name; when both are given, the current name wins."""
    result = {}
    for name, value in credentials.items():
        canonical = canonical_name(kind, name)
        if canonical == name or canonical not in credentials:
            result[canonical] = value
    return result


def secret_names():
    """Every key name (and alias) that holds a secret, for log redaction."""
    return sorted({n for ks in KEYS.values() for k in ks if k.secret for n in (k.name, *k.aliases)})


def describe():
    """The list for the API schema: per kind, each key (* required, + generated when left out, old spellings)."""
    lines = ["Write-only. Keys per kind (* required unless is_sandbox; + generated when left out):"]
    for kind, kind_keys in KEYS.items():
        names = []
        for key in kind_keys:
            mark = "*" if key.required else "+" if key.generated else ""
            old = f" (also accepted: {', '.join(key.aliases)})" if key.aliases else ""
            names.append(f"{key.name}{mark}{old}")
        lines.append(f"{kind}: {', '.join(names)}")
    return "\n".join(lines)
