"""Issue 23.11: channel secrets are encrypted at rest (Fernet, keys rotatable) and never reach a log line."""

import io
import logging

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection

from accounts.logging import RedactSecrets, redact
from cdp import credentials as credential_keys
from cdp.models import Channel

pytestmark = pytest.mark.django_db

SECRETS = {"channel_secret": "line-channel-secret-0001", "access_token": "line-access-token-0002"}


def raw_credentials(channel):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT credentials FROM {Channel._meta.db_table} WHERE id = %s", [channel.pk])
        return cursor.fetchone()[0]


def test_the_database_row_holds_no_secret(api):
    response = api.post("/api/v1/channels", {"kind": "line", "name": "OA", "credentials": SECRETS}, format="json")
    assert response.status_code == 201, response.content
    channel = Channel.objects.get(pk=response.json()["id"])
    raw = raw_credentials(channel)
    assert raw.startswith("gAAAAA")
    assert not any(value in raw for value in SECRETS.values())
    assert channel.credentials == SECRETS  # every reader gets the plain values


def test_a_queryset_update_is_encrypted_too(team):
    channel = Channel.objects.create(team=team, kind="line", name="OA")
    Channel.objects.filter(pk=channel.pk).update(credentials=SECRETS)
    assert "line-channel-secret" not in raw_credentials(channel)
    channel.refresh_from_db()
    assert channel.credentials == SECRETS


def test_keys_rotate(settings, team):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.CHANNEL_SECRET_KEYS = [old]
    channel = Channel.objects.create(team=team, kind="line", name="OA", credentials=SECRETS)
    settings.CHANNEL_SECRET_KEYS = [new, old]  # the new key first: it encrypts, both decrypt
    assert Channel.objects.get(pk=channel.pk).credentials == SECRETS
    out = io.StringIO()
    call_command("rotate_channel_secrets", stdout=out)
    assert "1 channels" in out.getvalue()
    settings.CHANNEL_SECRET_KEYS = [new]  # the old key removed
    assert Channel.objects.get(pk=channel.pk).credentials == SECRETS
    settings.CHANNEL_SECRET_KEYS = [old]
    with pytest.raises(ImproperlyConfigured):
        Channel.objects.get(pk=channel.pk)


def _configured_handler():
    """The handler settings.LOGGING installs (with its redaction filter), writing into a buffer."""
    handler = next(h for h in logging.getLogger().handlers if any(isinstance(f, RedactSecrets) for f in h.filters))
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    return handler, buffer, previous


def test_every_log_line_is_redacted(settings, team):
    Channel.objects.create(team=team, kind="line", name="OA", credentials={"channel_secret": "known-secret-4242"})
    assert Channel.objects.get(team=team).credentials  # read by this process: its secret is now known
    handler, buffer, previous = _configured_handler()
    logger = logging.getLogger("messaging.adapters.base")
    try:
        logger.warning("facebook request to %s failed: %s", "https://graph/v21.0/1/messages?access_token=EAAB1", "x")
        logger.warning("headers %s", {"Authorization": "Bearer tok-SECRET-1", "X-Line-Signature": "sig-SECRET-2"})
        logger.warning('body {"app_secret": "app-SECRET-3", "verify_token": "vt-SECRET-4", "page_id": "1234"}')
        logger.warning("secret key %s and channel secret %s", settings.SECRET_KEY, "known-secret-4242")
        logging.getLogger("django.server").info('"GET /webhooks/meta/1/?hub.verify_token=vt-SECRET-6 HTTP/1.1" 403')
        try:
            raise ValueError("token=tb-SECRET-5")
        except ValueError:
            logger.exception("failed")
    finally:
        handler.setStream(previous)
    output = buffer.getvalue()
    for leaked in ("EAAB1", "SECRET-", settings.SECRET_KEY, "known-secret-4242"):
        assert leaked not in output
    assert "access_token=[redacted]" in output and "Bearer [redacted]" in output
    assert "page_id" in output and "1234" in output  # ids are not secrets
    assert "ValueError" in output  # the traceback is still there
    assert "GET /webhooks/meta/1/?hub.verify_token=[redacted]" in output  # Django's loggers reach the same handler


def test_every_secret_key_of_every_kind_is_redacted_by_name():
    for name in credential_keys.secret_names():
        assert "abc123xyz" not in redact(f"{name}=abc123xyz and {{'{name}': 'abc123xyz'}}"), name
