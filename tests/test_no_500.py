"""Bad input gets a clear 4xx, never a 500: every parameterless console page and every API collection route,
called with junk query parameters and junk bodies."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from cdp.models import Customer
from config.api import router

JUNK_QUERY = {
    "q": "'\"<script>%_\\",
    "page": "abc",
    "after": "x",
    "cursor": "%%%",
    "channel": "abc",
    "channels": "x,y",
    "tag": "-1",
    "status": "nonsense",
    "source": "?",
    "from": "2026-13-45",
    "to": "yesterday",
    "start": "x",
    "end": "x",
    "unit": "century",
    "month": "2026-99",
    "bound": "maybe",
    "member": "maybe",
    "customer": "abc",
    "archived": "perhaps",
    "page_size": "-5",
}
# Characters that are digits to str.isdigit() but not to int(), and an id beyond a bigint.
DIGIT_LIKE = {key: "²" for key in JUNK_QUERY} | {"journey": "³", "pack": "²", "channels": "1,²", "after": "9" * 30}
SKIP_PREFIXES = ("admin/", "api/", "accounts/", "i18n/", "jsi18n/", "webhooks/", "healthz", "r/", "o/", "static/")


def _console_paths():
    paths = []

    def walk(patterns, prefix=""):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                route = prefix + str(entry.pattern)
                if "<" in route or "(?P" in route or route.startswith(SKIP_PREFIXES) or "^" in route:
                    continue
                paths.append("/" + route)

    walk(get_resolver().url_patterns)
    return sorted(set(paths))


CONSOLE_PATHS = _console_paths()


@pytest.mark.django_db
@pytest.mark.parametrize("path", CONSOLE_PATHS)
def test_console_pages_survive_junk_parameters(console, path):
    for junk in (JUNK_QUERY, DIGIT_LIKE):
        response = console.get(path, junk)
        assert response.status_code < 500, (path, junk, response.status_code)
        response = console.get(path, junk, HTTP_HX_REQUEST="true")
        assert response.status_code < 500, (path, junk, response.status_code)
        response = console.post(path, {**junk, "name": "", "conditions": "{", "file": "not a file"})
        assert response.status_code < 500, ("POST", path, junk, response.status_code)


COLLECTIONS = [prefix for prefix, _viewset, _basename in router.registry]


@pytest.mark.django_db
@pytest.mark.parametrize("prefix", COLLECTIONS)
def test_api_collections_survive_junk(api, prefix):
    for junk in (JUNK_QUERY, DIGIT_LIKE):
        response = api.get(f"/api/v1/{prefix}", junk)
        assert response.status_code < 500, (prefix, junk, response.status_code)
    for body in ({}, {"name": ["x"], "channel": "abc", "conditions": "nope", "kind": 7}, []):
        response = api.post(f"/api/v1/{prefix}", body, format="json")
        assert response.status_code < 500, (prefix, body, response.status_code)
        if response.status_code >= 400:
            assert "error" in response.json(), (prefix, response.content[:200])
    response = api.generic("POST", f"/api/v1/{prefix}", b"{broken", content_type="application/json")
    assert response.status_code == 400 if response.status_code != 405 else True


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/analytics/kpis",
        "/api/v1/analytics/contact-overview",
        "/api/v1/analytics/binding-sources",
        "/api/v1/analytics/contact-sources",
        "/api/v1/analytics/valid-contacts",
        "/api/v1/quota",
    ],
)
def test_api_reports_survive_junk_parameters(api, path):
    for junk in (JUNK_QUERY, DIGIT_LIKE):
        response = api.get(path, junk)
        assert response.status_code < 500, (path, junk, response.status_code)


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{}, {"events": "x"}, {"events": [None, 5, {"id": 1}]}, [], {"events": [{}] * 1001}])
def test_events_api_survives_junk(api, body):
    response = api.post("/api/v1/events", body, format="json")
    assert response.status_code in (200, 400), response.content[:300]


@pytest.mark.django_db
@pytest.mark.parametrize("prefix", ["events", *COLLECTIONS])
def test_numbers_beyond_a_float_are_a_400(api, team, prefix):
    """JSON 1e400 parses to infinity: int() of it raises OverflowError and jsonb refuses it."""
    event = '{"id": "big", "type": "checkout.completed", "data": {"customer": 1e400, "channel": 1e400, '
    event += '"order_id": "O1", "amount": 1, "items": [{"name": "Tea", "quantity": 1e400}]}}'
    body = '{"events": [' + event + '], "name": "x", "channel": 1e400, "points": -1e999}'
    response = api.generic("POST", f"/api/v1/{prefix}", body.encode(), content_type="application/json")
    assert response.status_code in (400, 405), (prefix, response.status_code)
    if response.status_code == 400:
        assert response.json()["error"]["code"] == "parse_error"
        assert "finite" in response.json()["error"]["message"]
    assert not Customer.objects.for_team(team).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/customers/", "/journeys/", "/audiences/", "/api/v1/customers"])
def test_nul_bytes_in_parameters_are_a_400(console, api, path):
    client = api if path.startswith("/api/") else console
    response = client.get(path, {"q": "a\x00b"})
    assert response.status_code == 400
    if path.startswith("/api/"):
        assert response.json()["error"]["code"] == "invalid"


@pytest.mark.django_db
@pytest.mark.parametrize("prefix", ["events", *COLLECTIONS])
def test_nul_characters_in_json_bodies_are_a_400(api, team, prefix):
    """PostgreSQL text cannot hold NUL: the parser refuses it before any view or service sees it."""
    body = {
        "events": [{"id": "n1", "type": "member.identify", "data": {"member_id": "M\x00"}}],
        "name": "a\x00b",
        "tags": ["t\x00"],
    }
    response = api.post(f"/api/v1/{prefix}", body, format="json")
    assert response.status_code in (400, 405), (prefix, response.status_code)
    if response.status_code == 400:
        assert response.json()["error"]["code"] == "parse_error"
    assert not Customer.objects.for_team(team).exists()
