"""Connecting channels: credentials validated per kind (the keys are listed in cdp.credentials), the platform id
taken from them, webhook URLs. The API and the console both connect and edit channels through here.
"""

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from .. import credentials as credential_keys
from ..models import Channel, ChannelKind, ChannelStatus

WEBHOOK_PATH = {
    ChannelKind.LINE: "line",
    ChannelKind.FACEBOOK: "meta",
    ChannelKind.INSTAGRAM: "meta",
    ChannelKind.WHATSAPP: "whatsapp",
    ChannelKind.SMS: "sms",
    ChannelKind.WECHAT: "wechat",
}


def webhook_url(channel):
    segment = WEBHOOK_PATH.get(channel.kind)
    if segment is None or channel.pk is None:
        return None
    return f"{settings.PUBLIC_BASE_URL}/webhooks/{segment}/{channel.pk}/"


def validate_credentials(kind, credentials, *, partial=False):
    """Return the cleaned credentials under their one names; ValidationError keyed "credentials.<key>"."""
    if kind not in ChannelKind.values:
        raise ValidationError({"kind": [_("未知的渠道類型：%(kind)s") % {"kind": kind}]})
    if credentials is None:
        credentials = {}
    if not isinstance(credentials, dict):
        raise ValidationError({"credentials": [_("credentials 必須是物件。")]})
    keys = credential_keys.keys(kind)
    allowed = {key.name for key in keys}
    errors = {}
    cleaned = {}
    for key, value in credential_keys.normalise(kind, credentials).items():
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
    if kind == ChannelKind.SMS and "provider" in cleaned:
        errors.update(credential_keys.sms_provider_errors(cleaned, partial=partial))
    if kind == ChannelKind.WECHAT:
        errors.update(credential_keys.wechat_errors(cleaned))
    if not partial:
        for key in keys:
            if key.required and key.name not in cleaned and f"credentials.{key.name}" not in errors:
                errors[f"credentials.{key.name}"] = [_("必填。")]
    if errors:
        raise ValidationError(errors)
    return cleaned


def _save(channel, update_fields=None):
    try:
        with transaction.atomic():
            channel.save(update_fields=update_fields)
    except IntegrityError:
        key = credential_keys.external_id_key(channel.kind) or "external_id"
        raise ValidationError(
            {f"credentials.{key}": [_("這個帳號已連結到本團隊的其他渠道：%(id)s") % {"id": channel.external_id}]}
        )
    return channel


def create_channel(*, team, kind, name, credentials=None, is_sandbox=False, external_id=""):
    """`external_id` is for kinds whose platform id is no credential (LINE's bot user id, known in advance)."""
    cleaned = validate_credentials(kind, credentials, partial=is_sandbox)
    for key in credential_keys.keys(kind):
        if key.generated and key.name not in cleaned:
            cleaned[key.name] = secrets.token_urlsafe(24)
    name = str(name or "").strip()
    if not name:
        raise ValidationError({"name": [_("請輸入名稱。")]})
    id_key = credential_keys.external_id_key(kind)
    channel = Channel(
        team=team,
        kind=kind,
        name=name[:200],
        credentials=cleaned,
        is_sandbox=is_sandbox,
        external_id=(cleaned.get(id_key, "") if id_key else str(external_id or "").strip())[:128],
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
        key = credential_keys.external_id_key(channel.kind)
        if key and cleaned.get(key):
            channel.external_id = cleaned[key][:128]
    return _save(channel, update_fields=["name", "credentials", "external_id"])


def set_status(channel, status):
    """Saved (not a queryset update) so post_save tells the webhook channel cache of this process at once."""
    channel.status = status
    channel.save(update_fields=["status"])
    return channel


def disable_channel(channel):
    return set_status(channel, ChannelStatus.DISABLED)


def enable_channel(channel):
    return set_status(channel, ChannelStatus.ACTIVE)


def masked(credentials):
    """For display: every secret shown as its last 4 characters."""
    return {key: ("•" * 6 + str(value)[-4:]) if value else "" for key, value in (credentials or {}).items()}
