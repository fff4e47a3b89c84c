"""Connecting channels: credentials validated per kind, the platform id taken from them, webhook URLs.

Credential keys per kind (all required, non-empty strings; unknown keys are refused):
  line       channel_secret, channel_access_token        (the bot user id arrives later as the webhook destination)
  facebook   page_id, app_secret, verify_token, access_token          external_id = page_id
  instagram  ig_account_id, app_secret, verify_token, access_token    external_id = ig_account_id
  whatsapp   phone_number_id, app_secret, verify_token, access_token  external_id = phone_number_id
  wechat / web: no credentials required (optional "external_id": the original id / site domain).
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from ..models import Channel, ChannelKind, ChannelStatus

META_KEYS = ["app_secret", "verify_token", "access_token"]
CREDENTIAL_KEYS = {
    ChannelKind.LINE: ["channel_secret", "channel_access_token"],
    ChannelKind.FACEBOOK: ["page_id", *META_KEYS],
    ChannelKind.INSTAGRAM: ["ig_account_id", *META_KEYS],
    ChannelKind.WHATSAPP: ["phone_number_id", *META_KEYS],
    ChannelKind.WECHAT: [],
    ChannelKind.WEB: [],
}
OPTIONAL_KEYS = {ChannelKind.WECHAT: ["external_id", "app_id", "app_secret", "token"], ChannelKind.WEB: ["external_id"]}
EXTERNAL_ID_KEY = {
    ChannelKind.FACEBOOK: "page_id",
    ChannelKind.INSTAGRAM: "ig_account_id",
    ChannelKind.WHATSAPP: "phone_number_id",
    ChannelKind.WECHAT: "external_id",
    ChannelKind.WEB: "external_id",
}
WEBHOOK_PATH = {
    ChannelKind.LINE: "line",
    ChannelKind.FACEBOOK: "meta",
    ChannelKind.INSTAGRAM: "meta",
    ChannelKind.WHATSAPP: "whatsapp",
}


def webhook_url(channel):
    segment = WEBHOOK_PATH.get(channel.kind)
    if segment is None or channel.pk is None:
        return None
    return f"{settings.PUBLIC_BASE_URL}/webhooks/{segment}/{channel.pk}/"


def validate_credentials(kind, credentials, *, partial=False):
    """Return the cleaned credentials; ValidationError keyed "credentials.<key>" (or "credentials")."""
    if kind not in ChannelKind.values:
        raise ValidationError({"kind": [_("未知的渠道類型：%(kind)s") % {"kind": kind}]})
    if credentials is None:
        credentials = {}
    if not isinstance(credentials, dict):
        raise ValidationError({"credentials": [_("credentials 必須是物件。")]})
    required = CREDENTIAL_KEYS[kind]
    allowed = set(required) | set(OPTIONAL_KEYS.get(kind, []))
    errors = {}
    cleaned = {}
    for key, value in credentials.items():
        if key not in allowed:
            errors[f"credentials.{key}"] = [
                _("%(kind)s 渠道不使用這個金鑰；可用：%(keys)s") % {"kind": kind, "keys": ", ".join(sorted(allowed))}
            ]
        elif not isinstance(value, str) or not value.strip():
            errors[f"credentials.{key}"] = [_("必須是非空白文字。")]
        elif len(value) > 2000:
            errors[f"credentials.{key}"] = [_("最多 2000 個字元。")]
        else:
            cleaned[key] = value.strip()
    if not partial:
        for key in required:
            if key not in credentials:
                errors[f"credentials.{key}"] = [_("必填。")]
    if errors:
        raise ValidationError(errors)
    return cleaned


def _save(channel):
    try:
        with transaction.atomic():
            channel.save()
    except IntegrityError:
        key = EXTERNAL_ID_KEY.get(channel.kind, "external_id")
        raise ValidationError(
            {f"credentials.{key}": [_("這個帳號已連結到本團隊的其他渠道：%(id)s") % {"id": channel.external_id}]}
        )
    return channel


def create_channel(*, team, kind, name, credentials=None, is_sandbox=False):
    cleaned = validate_credentials(kind, credentials, partial=is_sandbox)
    name = str(name or "").strip()
    if not name:
        raise ValidationError({"name": [_("請輸入名稱。")]})
    channel = Channel(
        team=team,
        kind=kind,
        name=name[:200],
        credentials=cleaned,
        is_sandbox=is_sandbox,
        external_id=cleaned.get(EXTERNAL_ID_KEY.get(kind, ""), "")[:128],
    )
    return _save(channel)


def update_channel(channel, *, name=None, credentials=None):
    """Rename and/or replace credential keys (keys not given are kept)."""
    if name is not None:
        name = str(name).strip()
        if not name:
            raise ValidationError({"name": [_("請輸入名稱。")]})
        channel.name = name[:200]
    if credentials is not None:
        cleaned = validate_credentials(channel.kind, credentials, partial=True)
        channel.credentials = {**channel.credentials, **cleaned}
        key = EXTERNAL_ID_KEY.get(channel.kind)
        if key and cleaned.get(key):
            channel.external_id = cleaned[key][:128]
    return _save(channel)


def disable_channel(channel):
    Channel.objects.filter(pk=channel.pk).update(status=ChannelStatus.DISABLED)
    channel.status = ChannelStatus.DISABLED
    return channel


def enable_channel(channel):
    Channel.objects.filter(pk=channel.pk).update(status=ChannelStatus.ACTIVE)
    channel.status = ChannelStatus.ACTIVE
    return channel


def masked(credentials):
    """For display: every secret shown as its last 4 characters."""
    return {key: ("•" * 6 + str(value)[-4:]) if value else "" for key, value in (credentials or {}).items()}
