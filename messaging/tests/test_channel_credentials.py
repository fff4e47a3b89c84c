"""Issue 23.3: a channel connected through the API or the console sends with its access token, whichever
spelling its credentials were given in (cdp.credentials is the one list); stored old spellings are migrated."""

import importlib
import uuid

import pytest
from django.apps import apps
from django.db import connection
from django.urls import reverse

from cdp import credentials as credential_keys
from cdp.models import Channel
from cdp.services.channels import validate_credentials
from messaging.adapters import get_adapter
from messaging.services import templates

from .fake_platform import FakePlatform

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(settings):
    with FakePlatform() as server:
        settings.MESSAGING_LINE_API_BASE = server.url
        settings.MESSAGING_META_GRAPH_BASE = server.url + "/v21.0"
        settings.MESSAGING_INSTAGRAM_API_BASE = server.url + "/ig/v21.0"
        settings.MESSAGING_WHATSAPP_API_BASE = server.url + "/v21.0"
        graph_ok = lambda r: (200, {"recipient_id": "PSID1", "message_id": "m_1"}, {})  # noqa: E731
        server.route("POST", "/v2/bot/message/push", server.line_push)
        server.route("POST", "/v21.0/1234567890/messages", graph_ok)
        server.route("POST", "/ig/v21.0/17841400000000/messages", graph_ok)
        server.route("POST", "/v21.0/106540352242922/messages", server.whatsapp_messages)
        yield server


PAYLOADS = {
    "line": ("U1234", {"messages": [{"type": "text", "text": "hi"}]}),
    "facebook": ("PSID1", {"message": {"text": "hi"}}),
    "instagram": ("IGSID1", {"message": {"text": "hi"}}),
    "whatsapp": ("+85291234567", {"type": "text", "text": {"body": "hi"}}),
}
API_CHANNELS = [
    # The spelling the API documented before (issue 23.3: 5,010 pushes went out as "Bearer " with nothing after).
    ("line", {"channel_secret": "line-secret", "channel_access_token": "LINE-TOKEN-1"}, "LINE-TOKEN-1"),
    ("line", {"channel_secret": "line-secret", "access_token": "LINE-TOKEN-2"}, "LINE-TOKEN-2"),
    (
        "facebook",
        {"page_id": "1234567890", "app_secret": "app-secret", "verify_token": "vt", "access_token": "PAGE-TOKEN"},
        "PAGE-TOKEN",
    ),
    (
        "facebook",
        {"page_id": "1234567890", "app_secret": "app-secret", "verify_token": "vt", "page_access_token": "PAGE-T2"},
        "PAGE-T2",
    ),
    ("instagram", {"ig_account_id": "17841400000000", "app_secret": "app-secret", "access_token": "IG-T"}, "IG-T"),
    (
        "whatsapp",
        {
            "phone_number_id": "106540352242922",
            "app_secret": "app-secret",
            "verify_token": "vt",
            "access_token": "WA-T",
        },
        "WA-T",
    ),
]


def _send(fake, channel, token):
    recipient, payload = PAYLOADS[channel.kind]
    result = get_adapter(channel).send(recipient=recipient, payload=payload, retry_key=uuid.uuid4())
    request = fake.requests[-1]
    assert result.ok, (result.error_code, result.error_reason)
    assert request["headers"]["authorization"] == f"Bearer {token}"
    assert token not in request["path"] + request["query"]


@pytest.mark.parametrize(("kind", "credentials", "token"), API_CHANNELS)
def test_a_channel_connected_through_the_api_sends_with_its_token(api, fake, kind, credentials, token):
    response = api.post("/api/v1/channels", {"kind": kind, "name": kind, "credentials": credentials}, format="json")
    assert response.status_code == 201, response.content
    channel = Channel.objects.get(pk=response.json()["id"])
    assert channel.credentials["access_token"] == token
    assert not {"channel_access_token", "page_access_token"} & set(channel.credentials)
    if kind != "line":
        assert channel.credentials["verify_token"]  # given, or generated when left out
    _send(fake, channel, token)


def test_the_old_spelling_replaces_the_token_on_update(api, fake, team):
    created = api.post(
        "/api/v1/channels",
        {"kind": "line", "name": "OA", "credentials": {"channel_secret": "s", "access_token": "OLD"}},
        format="json",
    ).json()
    response = api.patch(
        f"/api/v1/channels/{created['id']}", {"credentials": {"channel_access_token": "NEW"}}, format="json"
    )
    assert response.status_code == 200, response.content
    _send(fake, Channel.objects.get(pk=created["id"]), "NEW")


def test_whatsapp_accepts_waba_id_and_template_sync_uses_it(api, fake):
    credentials = {
        "phone_number_id": "106540352242922",
        "app_secret": "app-secret",
        "verify_token": "vt",
        "access_token": "WA-T",
        "waba_id": "WABA1",
    }
    response = api.post(
        "/api/v1/channels", {"kind": "whatsapp", "name": "WA", "credentials": credentials}, format="json"
    )
    assert response.status_code == 201, response.content
    fake.route("GET", "/v21.0/WABA1/message_templates", lambda r: (200, {"data": [], "paging": {}}, {}))
    channel = Channel.objects.get(pk=response.json()["id"])
    templates.sync(channel)
    request = fake.requests[-1]
    assert request["path"] == "/v21.0/WABA1/message_templates"
    assert request["headers"]["authorization"] == "Bearer WA-T"


def test_unknown_keys_are_refused_with_the_accepted_ones_named(api):
    response = api.post(
        "/api/v1/channels",
        {"kind": "line", "name": "OA", "credentials": {"channel_secret": "s", "access_token": "t", "token": "x"}},
        format="json",
    )
    assert response.status_code == 400
    assert "credentials.token" in response.json()["error"]["fields"]
    assert not Channel.objects.exists()


@pytest.mark.parametrize(
    ("form", "token"),
    [
        ({"kind": "line", "external_id": "Ubot1", "channel_secret": "s", "access_token": "LINE-C"}, "LINE-C"),
        ({"kind": "facebook", "external_id": "1234567890", "app_secret": "a", "access_token": "PAGE-C"}, "PAGE-C"),
        ({"kind": "instagram", "external_id": "17841400000000", "app_secret": "a", "access_token": "IG-C"}, "IG-C"),
        ({"kind": "whatsapp", "external_id": "106540352242922", "app_secret": "a", "access_token": "WA-C"}, "WA-C"),
    ],
)
def test_a_channel_connected_in_the_console_sends_with_its_token(console, fake, team, form, token):
    response = console.post(reverse("messaging:index"), {"name": "Console", **form})
    assert response.status_code == 302, response.content.decode()[-2000:]
    channel = Channel.objects.get(team=team)
    assert channel.external_id == form["external_id"]
    _send(fake, channel, token)


def test_the_console_requires_what_the_one_list_requires(console, team):
    response = console.post(reverse("messaging:index"), {"kind": "facebook", "name": "Page", "app_secret": "a"})
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) == {"external_id", "access_token"}
    assert not Channel.objects.exists()


def test_stored_old_spellings_are_renamed_and_encrypted_by_the_migration(team):
    table = Channel._meta.db_table
    with connection.cursor() as cursor:
        for kind, text in [
            ("line", '{"channel_secret": "LS-123456789", "channel_access_token": "LT-123456789"}'),
            ("facebook", '{"app_secret": "FS-123456789", "page_access_token": "FT-123456789"}'),
        ]:
            cursor.execute(
                f"INSERT INTO {table} (team_id, kind, name, external_id, credentials, is_sandbox, status, created_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, 'active', CURRENT_TIMESTAMP)",
                [team.pk, kind, kind, kind, text, False],
            )
    migration = importlib.import_module("cdp.migrations.0008_channel_credentials_one_spelling")
    migration.forwards(apps, None)
    by_kind = {c.kind: c.credentials for c in Channel.objects.all()}
    assert by_kind == {
        "line": {"channel_secret": "LS-123456789", "access_token": "LT-123456789"},
        "facebook": {"app_secret": "FS-123456789", "access_token": "FT-123456789"},
    }
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT credentials FROM {table}")
        raw = " ".join(row[0] for row in cursor.fetchall())
    assert "123456789" not in raw


def test_the_api_docs_show_the_one_list(db):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    create = schema["paths"]["/api/v1/channels/"]["post"]["requestBody"]["content"]["application/json"]
    examples = [example["value"] for example in create["examples"].values()]
    assert {example["kind"] for example in examples} >= {"line", "whatsapp"}
    for example in examples:  # every documented example is accepted as it stands
        validate_credentials(example["kind"], example["credentials"])
    described = schema["components"]["schemas"]["ChannelRequest"]["properties"]["credentials"]["description"]
    assert "line: channel_secret*, access_token* (also accepted: channel_access_token)" in described
    assert "waba_id" in described


def test_the_readme_shows_the_one_list(settings):
    import re

    readme = (settings.BASE_DIR / "README.md").read_text(encoding="utf-8")
    for kind, keys in credential_keys.KEYS.items():
        row = re.search(rf"^  \| `{kind}` \| (.+) \|$", readme, re.MULTILINE).group(1)
        documented = [(name, mark) for name, mark in re.findall(r"`(\w+)`(\\\*|\+)?", row)]
        expected = [(key.name, "\\*" if key.required else "+" if key.generated else "") for key in keys]
        assert documented == expected, kind
