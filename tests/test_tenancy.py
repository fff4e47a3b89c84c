"""Team B's key can neither read nor change team A's objects, on every route of the API router."""

from importlib import import_module
from importlib.util import find_spec

import pytest
from django.forms.models import model_to_dict

from config.api import PRODUCT_APPS, router
from tests.factories import api_client_for
from tests.tenancy import CASES

for _app in PRODUCT_APPS:
    if find_spec(f"{_app}.tests.tenancy_cases") is not None:
        import_module(f"{_app}.tests.tenancy_cases")

ROUTES = [(prefix, viewset, basename) for prefix, viewset, basename in router.registry]


def test_every_route_has_a_tenancy_case():
    missing = [basename for _prefix, _viewset, basename in ROUTES if basename not in CASES]
    assert not missing, f"Add a tenancy case (tests/tenancy.py) for: {missing}"


def _detail_actions(viewset):
    actions = []
    for action in viewset.get_extra_actions():
        if action.detail:
            actions.append((action.url_path, sorted(m.upper() for m in action.mapping)))
    return actions


@pytest.mark.django_db
@pytest.mark.parametrize("prefix,viewset,basename", ROUTES, ids=[r[2] for r in ROUTES])
def test_other_team_cannot_read_or_change(prefix, viewset, basename, team, other_team):
    obj = CASES[basename](team)
    before = model_to_dict(obj)
    outsider = api_client_for(other_team)
    base = f"/api/v1/{prefix}"

    if hasattr(viewset, "list"):
        response = outsider.get(base)
        assert response.status_code == 200, response.content
        assert obj.pk not in _ids(response.json())

    detail = f"{base}/{obj.pk}"
    if hasattr(viewset, "retrieve"):
        assert outsider.get(detail).status_code == 404
    if hasattr(viewset, "partial_update"):
        assert outsider.patch(detail, {"name": "hijacked"}, format="json").status_code == 404
    if hasattr(viewset, "update"):
        assert outsider.put(detail, {"name": "hijacked"}, format="json").status_code == 404
    if hasattr(viewset, "destroy"):
        assert outsider.delete(detail).status_code == 404
    for url_path, methods in _detail_actions(viewset):
        for method in methods:
            response = getattr(outsider, method.lower())(f"{detail}/{url_path}", {}, format="json")
            assert response.status_code == 404, (url_path, method, response.status_code)

    obj.refresh_from_db()
    assert model_to_dict(obj) == before
    owner_client = api_client_for(team)
    if hasattr(viewset, "retrieve"):
        assert owner_client.get(detail).status_code == 200


def _ids(body):
    items = body.get("results", body) if isinstance(body, dict) else body
    return {item.get("id") for item in items if isinstance(item, dict)}
