"""Tracked-link tokens (issue 22 item 13): django.core.signing with their own salt, legacy tokens read for a
transition window, and any tampered or malformed token answers 404, never a 500."""

import base64
import hashlib
import hmac
from datetime import timedelta

import pytest
from django.core import signing
from django.utils import timezone

from cdp.tests.factories import ChannelFactory, ContactFactory
from messaging.services import tracking_urls
from messaging.services.tracking_urls import LEGACY_TOKEN_DAYS, TrackedLink, make_token, parse_token

from .factories import OutboundMessageFactory

pytestmark = pytest.mark.django_db

TARGET = "https://shop.example/sale"
IMAGE = "https://cdn.example/banner"


@pytest.fixture
def send(team):
    contact = ContactFactory(channel=ChannelFactory(team=team, kind="line"))
    return OutboundMessageFactory(
        contact=contact, sent_at=timezone.now(), trackable=True, links={"urls": [TARGET], "images": [IMAGE]}
    )


def legacy_token(message_id, index, key):
    """A token exactly as the code before django.core.signing minted it (and links already sent carry)."""
    body = f"{message_id:x}.{index:x}"
    digest = hmac.new(key.encode(), body.encode(), hashlib.sha256).digest()
    return f"{body}.{base64.urlsafe_b64encode(digest[:9]).decode()}"


def test_a_token_is_signed_with_its_own_salt(send):
    token = make_token(send.pk, 0)
    assert signing.Signer(salt=tracking_urls.SALT).unsign(token) == f"{send.pk:x}.0"
    assert parse_token(token) == TrackedLink(send.pk, 0, legacy=False)
    # The same value signed for another purpose (no salt, or another salt) is not a tracked link.
    assert parse_token(signing.Signer().sign(f"{send.pk:x}.0")) is None
    assert parse_token(signing.Signer(salt="other").sign(f"{send.pk:x}.0")) is None


def test_a_rotated_secret_key_keeps_links_already_sent_working(send, settings):
    token = make_token(send.pk, 0)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-key-" + "x" * 50
    assert parse_token(token) == (send.pk, 0, False)


def test_click_redirects_and_records_once(client, send):
    response = client.get(f"/r/{make_token(send.pk, 0)}")
    assert response.status_code == 302 and response["Location"] == TARGET
    send.refresh_from_db()
    assert send.clicked_at is not None


def test_open_pixel_redirects_to_the_sized_image_and_records_the_open(client, send):
    response = client.get(f"/o/{make_token(send.pk, 0)}/1040")
    assert response.status_code == 302 and response["Location"] == f"{IMAGE}/1040"
    send.refresh_from_db()
    assert send.opened_at is not None


def test_a_legacy_token_still_works_within_the_transition_window(client, send, settings):
    token = legacy_token(send.pk, 0, settings.SECRET_KEY)
    assert parse_token(token) == TrackedLink(send.pk, 0, legacy=True)
    response = client.get(f"/r/{token}")
    assert response.status_code == 302 and response["Location"] == TARGET
    assert client.get(f"/o/{legacy_token(send.pk, 0, settings.SECRET_KEY)}/700").status_code == 302


def test_a_legacy_token_of_a_send_older_than_the_window_is_not_found(client, send, settings):
    send.created_at = timezone.now() - timedelta(days=LEGACY_TOKEN_DAYS + 1)
    send.save(update_fields=["created_at"])
    assert client.get(f"/r/{legacy_token(send.pk, 0, settings.SECRET_KEY)}").status_code == 404
    pixel = client.get(f"/o/{legacy_token(send.pk, 0, settings.SECRET_KEY)}/1040")
    assert pixel.status_code == 200 and pixel["Content-Type"] == "image/png"  # the blank pixel, not the image
    # A signed token has no window: the same old send's new-style link still redirects.
    assert client.get(f"/r/{make_token(send.pk, 0)}").status_code == 302
    send.refresh_from_db()
    assert send.opened_at is None


@pytest.mark.parametrize(
    "token",
    [
        "tampered",
        "1.0",
        "1.0.AAAAAAAAAAAA",
        "1.0:AAAAAAAAAAAA",
        "1.2.%C3%A9",  # non-ASCII signature: hmac.compare_digest raised TypeError (a 500) before
        "%C3%A9.%C3%A9.%C3%A9",
        "%C3%A9:%C3%A9",
        "a:b:c:d",
        ":",
        "..",
        "x" * 3000,
    ],
)
def test_tampered_or_malformed_tokens_answer_404(client, send, token):
    assert client.get(f"/r/{token}").status_code == 404
    assert client.get(f"/o/{token}/1040").status_code == 404


def test_a_token_with_a_changed_id_or_index_answers_404(client, send, settings):
    signed = make_token(send.pk, 0)
    value, signature = signed.split(":")
    forged = f"{send.pk + 1:x}.0:{signature}"
    assert client.get(f"/r/{forged}").status_code == 404
    legacy = legacy_token(send.pk, 0, settings.SECRET_KEY)
    assert client.get(f"/r/{legacy.replace(f'{send.pk:x}.0.', f'{send.pk:x}.1.', 1)}").status_code == 404
    assert client.get(f"/r/{legacy_token(send.pk, 0, 'another-key')}").status_code == 404
    assert value == f"{send.pk:x}.0"
