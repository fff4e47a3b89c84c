import pytest
from rest_framework.test import APIClient

from accounts.models import ApiKey, hash_api_key
from accounts.services import create_api_key


@pytest.mark.django_db
class TestApiKeys:
    def test_key_is_stored_hashed_and_shown_once(self, team):
        new = create_api_key(team=team, name="shop")
        stored = ApiKey.objects.get(pk=new.api_key.pk)
        assert new.raw_key not in (stored.key_hash, stored.prefix)
        assert stored.key_hash == hash_api_key(new.raw_key)

    def test_bearer_key_authenticates_and_records_last_use(self, team):
        new = create_api_key(team=team, name="shop")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {new.raw_key}")
        response = client.get("/api/v1/team")
        assert response.status_code == 200
        assert response.json()["slug"] == team.slug
        new.api_key.refresh_from_db()
        assert new.api_key.last_used_at is not None

    @pytest.mark.parametrize("header", ["Bearer nonsense", "Bearer scdp_deadbeef_wrong", "Bearer ", "Token abc"])
    def test_bad_keys_are_rejected_with_the_error_format(self, team, header):
        create_api_key(team=team, name="shop")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=header)
        response = client.get("/api/v1/team")
        assert response.status_code in (401, 403)
        assert set(response.json()["error"]) == {"code", "message", "fields"}

    def test_tampered_secret_with_valid_prefix_is_rejected(self, team):
        new = create_api_key(team=team, name="shop")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {new.raw_key[:-2]}xx")
        assert client.get("/api/v1/team").status_code == 401

    def test_revoked_key_stops_working(self, api):
        assert api.get("/api/v1/team").status_code == 200
        assert api.delete(f"/api/v1/api-keys/{api.api_key.pk}").status_code == 204
        assert api.get("/api/v1/team").status_code == 401

    def test_create_via_api_returns_raw_key_once(self, api):
        response = api.post("/api/v1/api-keys", {"name": "zapier", "role": "marketer"}, format="json")
        assert response.status_code == 201
        raw = response.json()["key"]
        assert raw.startswith("scdp_")
        listed = api.get("/api/v1/api-keys").json()["results"]
        assert all(item["key"] is None or item["key"] == "" for item in listed if "key" in item) or all(
            "key" not in item for item in listed
        )
        other = APIClient()
        other.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        assert other.get("/api/v1/team").status_code == 200

    def test_field_errors_use_one_format(self, api):
        response = api.post("/api/v1/api-keys", {"role": "emperor"}, format="json")
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "invalid"
        assert "name" in error["fields"] and "role" in error["fields"]

    def test_malformed_json_is_a_400_in_the_error_format(self, api):
        response = api.generic("POST", "/api/v1/api-keys", "{not json", content_type="application/json")
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "parse_error"

    def test_unknown_api_path_is_json_404(self, api):
        response = api.get("/api/v1/nothing-here")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"

    def test_list_uses_cursor_pagination(self, api, team):
        for i in range(5):
            create_api_key(team=team, name=f"k{i}")
        page = api.get("/api/v1/api-keys?page_size=2").json()
        assert len(page["results"]) == 2 and page["next"] and "cursor=" in page["next"]
        seen = {item["id"] for item in page["results"]}
        second = api.get(page["next"]).json()
        assert not seen & {item["id"] for item in second["results"]}

    def test_throttling_per_key(self, api, settings):
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": "3/min"}}
        codes = [api.get("/api/v1/team").status_code for _ in range(4)]
        assert codes[:3] == [200, 200, 200] and codes[3] == 429


@pytest.mark.django_db
def test_openapi_schema_is_valid(client):
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.")


@pytest.mark.django_db
def test_docs_page_uses_local_assets(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/" in html
    assert "cdn.jsdelivr" not in html and "unpkg.com" not in html
