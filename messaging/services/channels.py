"""Connecting channels: credentials, verify token, webhook URL, connection test, disable / enable."""

import secrets

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from cdp.models import Channel, ChannelStatus

from ..adapters import get_adapter
from ..models import ChannelState
from .budgets import state_for

# Which credentials each platform needs (form fields; stored write-only in Channel.credentials).
CREDENTIAL_FIELDS = {
    "line": ["channel_secret", "access_token", "basic_id"],
    "facebook": ["app_secret", "page_access_token"],
    "instagram": ["app_secret", "access_token", "username"],
    "whatsapp": ["app_secret", "access_token", "waba_id", "display_phone_number"],
}
WEBHOOK_ROUTES = {
    "line": "webhook-line",
    "facebook": "webhook-meta",
    "instagram": "webhook-meta",
    "whatsapp": "webhook-whatsapp",
}


def webhook_url(channel):
    name = WEBHOOK_ROUTES.get(channel.kind)
    return f"{settings.PUBLIC_BASE_URL}{reverse(name, args=[channel.pk])}" if name else ""


@transaction.atomic
def connect_channel(*, team, kind, name, external_id="", credentials=None, is_sandbox=False):
    creds = {k: v for k, v in (credentials or {}).items() if v}
    if kind in ("facebook", "instagram", "whatsapp"):
        creds.setdefault("verify_token", secrets.token_urlsafe(24))
    channel = Channel.objects.create(
        team=team, kind=kind, name=name, external_id=external_id, credentials=creds, is_sandbox=is_sandbox
    )
    state_for(channel)
    return channel


@transaction.atomic
def update_credentials(channel, values):
    """Blank values keep the stored secret (the form never shows secrets back)."""
    creds = dict(channel.credentials or {})
    creds.update({k: v for k, v in values.items() if v})
    Channel.objects.filter(pk=channel.pk).update(credentials=creds)
    channel.credentials = creds
    return channel


def set_active(channel, active):
    status = ChannelStatus.ACTIVE if active else ChannelStatus.DISABLED
    Channel.objects.filter(pk=channel.pk).update(status=status)
    channel.status = status
    return channel


def test_connection(channel):
    try:
        ok, message = get_adapter(channel).test_connection()
    except ValueError as exc:
        ok, message = False, str(exc)
    state = state_for(channel)
    ChannelState.objects.filter(pk=state.pk).update(
        last_test_at=timezone.now(), last_test_ok=ok, last_test_message=message[:300]
    )
    return ok, message
