"""Issue 23.15: a forged webhook costs no database query. The channel's verification material is cached per
process (messaging.services.channel_cache); saves and disables in this process drop it at once."""

import pytest

from cdp.services import channels as cdp_channels
from cdp.tests.factories import ChannelFactory
from messaging.services import channel_cache

from .payloads import LINE_SECRET, META_SECRET, line_body, line_text, meta_body, post_line, post_meta

pytestmark = pytest.mark.django_db


@pytest.fixture
def line(team):
    return ChannelFactory(team=team, kind="line", credentials={"channel_secret": LINE_SECRET, "access_token": "t"})


@pytest.fixture
def page(team):
    return ChannelFactory(
        team=team,
        kind="facebook",
        external_id="1234567890",
        credentials={"app_secret": META_SECRET, "verify_token": "vt-123", "access_token": "p"},
    )


def test_forged_line_requests_cost_no_query(client, line, django_assert_num_queries):
    assert post_line(client, line, line_body()).status_code == 200  # the genuine verify request fills the cache
    body = line_body(line_text("hi"))
    for _ in range(3):
        with django_assert_num_queries(0):
            assert post_line(client, line, body, secret="forged").status_code == 401
        with django_assert_num_queries(0):
            response = client.post(f"/webhooks/line/{line.pk}/", data=body, content_type="application/json")
            assert response.status_code == 401


def test_forged_meta_requests_and_handshakes_cost_no_query(client, page, django_assert_num_queries):
    assert post_meta(client, page, meta_body("page", page.external_id)).status_code == 200
    handshake = {"hub.mode": "subscribe", "hub.challenge": "42"}
    for _ in range(3):
        with django_assert_num_queries(0):
            assert post_meta(client, page, meta_body("page", page.external_id), secret="forged").status_code == 401
        with django_assert_num_queries(0):
            response = client.get(f"/webhooks/meta/{page.pk}/", {**handshake, "hub.verify_token": "forged"})
            assert response.status_code == 403
    response = client.get(f"/webhooks/meta/{page.pk}/", {**handshake, "hub.verify_token": "vt-123"})
    assert response.status_code == 200 and response.content == b"42"


def test_unknown_and_disabled_channels_are_read_once(client, line, django_assert_num_queries):
    body = line_body(line_text("hi"))
    with django_assert_num_queries(1):
        assert client.post("/webhooks/line/999999/", data=body, content_type="application/json").status_code == 404
    with django_assert_num_queries(0):
        assert client.post("/webhooks/line/999999/", data=body, content_type="application/json").status_code == 404
    cdp_channels.disable_channel(line)  # in this process: the cached channel is dropped at once
    with django_assert_num_queries(1):
        assert post_line(client, line, body).status_code == 404
    with django_assert_num_queries(0):
        assert post_line(client, line, body).status_code == 404
    cdp_channels.enable_channel(line)
    assert post_line(client, line, body).status_code == 200


def test_a_secret_rotated_in_another_process_is_read_again_after_a_mismatch(client, line, monkeypatch):
    assert post_line(client, line, line_body()).status_code == 200
    # Another process saves a new secret: this process's post_save never fires.
    type(line).objects.filter(pk=line.pk).update(credentials={"channel_secret": "new-secret", "access_token": "t"})
    body = line_body(line_text("hi"))
    assert post_line(client, line, body, secret="new-secret").status_code == 401  # read again at most every 2 s
    monkeypatch.setattr(channel_cache, "RELOAD_AFTER_MISMATCH_SECONDS", 0.0)
    assert post_line(client, line, body, secret="new-secret").status_code == 200


def test_the_cache_lasts_the_configured_time(client, line, settings, django_assert_num_queries):
    settings.MESSAGING_WEBHOOK_CHANNEL_CACHE_SECONDS = 0
    body = line_body(line_text("hi"))
    assert post_line(client, line, body, secret="forged").status_code == 401
    with django_assert_num_queries(1):
        assert post_line(client, line, body, secret="forged").status_code == 401
