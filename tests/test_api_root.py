"""The API root lists the collections and the docs (issue 22.10): an integrator who opens /api/v1/ finds the
way in rather than a 404."""

import pytest
from rest_framework.test import APIClient

from accounts.permissions import Role
from config.api import router
from tests.factories import api_client_for


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/", "/api/v1"])
def test_the_root_lists_every_collection_and_the_docs(team, path):
    response = api_client_for(team, role=Role.AGENT).get(path, follow=True)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["collections"] == {
        prefix: f"http://testserver/api/v1/{prefix}/" for prefix, _viewset, _basename in router.registry
    }
    assert body["docs"] == "http://testserver/api/docs/"
    assert body["schema"] == "http://testserver/api/schema/"
    for url in body["collections"].values():  # each one answers
        assert api_client_for(team).get(url).status_code in (200, 405), url


@pytest.mark.django_db
def test_the_root_without_a_key_is_401_in_the_error_format():
    response = APIClient().get("/api/v1/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.django_db
@pytest.mark.parametrize("cursor", ["garbage", "%00", "x" * 300])
def test_a_cursor_that_is_not_ours_is_a_400_naming_the_parameter(api, cursor):
    response = api.get("/api/v1/customers", {"cursor": cursor})
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["cursor"] == ["Invalid cursor: use the `next` or `previous` link."]
