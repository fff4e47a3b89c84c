"""The credential keys of each channel kind: the one list the API, the console form, the adapters and the docs use.

Every kind names its access token `access_token` (the bearer token the adapters send). Older spellings are
accepted on input and stored under the one name: LINE's `channel_access_token` (the API's first spelling) and
Messenger's `page_access_token` (the console's); migration cdp 0008 renamed the rows stored before.
"""

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
    ChannelKind.WECHAT: (
        CredentialKey("external_id", _("原始 ID"), secret=False, external_id=True),
        CredentialKey("app_id", _("AppID"), secret=False),
        CredentialKey("app_secret", _("AppSecret")),
        CredentialKey("token", _("Token")),
    ),
    ChannelKind.WEB: (CredentialKey("external_id", _("網站網域"), secret=False, external_id=True),),
}


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
