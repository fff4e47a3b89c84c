"""Connecting channels: credentials, verify token, webhook URL, connection test, disable / enable."""

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from cdp.services import channels as cdp_channels

from ..adapters import get_adapter
from ..models import ChannelState
from .budgets import state_for

WEBHOOK_ROUTES = {
    "line": "webhook-line",
    "facebook": "webhook-meta",
    "instagram": "webhook-meta",
    "whatsapp": "webhook-whatsapp",
    "sms": "webhook-sms",
    "wechat": "webhook-wechat",
}


def webhook_url(channel):
    name = WEBHOOK_ROUTES.get(channel.kind)
    return f"{settings.PUBLIC_BASE_URL}{reverse(name, args=[channel.pk])}" if name else ""


def receipt_url(channel):
    """Where an SMS provider reports delivery ('' for other kinds and the sandbox): Mitake takes the shared secret
    in the URL; Twilio signs its requests with the auth token instead."""
    if channel.kind != "sms" or channel.is_sandbox:
        return ""
    url = webhook_url(channel)
    if channel.credentials.get("provider") == "mitake":
        url += f"?secret={channel.credentials.get('callback_secret', '')}"
    return url


@transaction.atomic
def connect_channel(*, team, kind, name, external_id="", credentials=None, is_sandbox=False):
    """cdp's create_channel (the one credential check, shared with the API), plus the messaging state row."""
    channel = cdp_channels.create_channel(
        team=team, kind=kind, name=name, credentials=credentials, is_sandbox=is_sandbox, external_id=external_id
    )
    state_for(channel)
    return channel


def update_credentials(channel, values):
    """Blank values keep the stored secret (the form never shows secrets back)."""
    return cdp_channels.update_channel(channel, credentials={k: v for k, v in values.items() if v})


def set_active(channel, active):
    return cdp_channels.enable_channel(channel) if active else cdp_channels.disable_channel(channel)


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
