"""Team B's key can neither read nor change team A's objects, on every route of the API router."""

import re
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


NONEXISTENT = 987654321


def _team_owned_related(serializer):
    """{field name: model} of the writable related fields of a serializer whose model has a team."""
    fields = {}
    for name, field in serializer.fields.items():
        field = getattr(field, "child_relation", field)
        queryset = getattr(field, "queryset", None)
        model = getattr(queryset, "model", None)
        if not field.read_only and model is not None and any(f.name == "team" for f in model._meta.fields):
            fields[name] = model
    return fields


def _model_filters(viewset):
    """{parameter: model} of the list's filters that take a team-owned object's id."""
    from django_filters.rest_framework import DjangoFilterBackend

    view = viewset()
    view.action = "list"
    view.request = None
    filterset_class = DjangoFilterBackend().get_filterset_class(view, viewset.queryset)
    if filterset_class is None:
        return {}
    return {
        name: f.queryset.model
        for name, f in filterset_class.base_filters.items()
        if getattr(f, "queryset", None) is not None and any(x.name == "team" for x in f.queryset.model._meta.fields)
    }


def _same_answer(first, second, id_value):
    """Status, error code and messages alike once the id itself is blanked out."""

    def shape(response):
        text = response.content.decode().replace(str(NONEXISTENT), "<id>")
        return response.status_code, re.sub(rf"(?<!\d){id_value}(?!\d)", "<id>", text)

    return shape(first) == shape(second)


@pytest.mark.django_db
@pytest.mark.parametrize("prefix,viewset,basename", ROUTES, ids=[r[2] for r in ROUTES])
def test_another_teams_id_looks_like_one_that_does_not_exist(prefix, viewset, basename, team, other_team):
    """Issue 22.5: in filters and body fields, another team's id answers exactly as a nonexistent id, so ids cannot
    be enumerated."""
    for make in CASES.values():  # one object of every kind for the team, so every probe has an id to try
        make(team)
    outsider = api_client_for(other_team)
    base = f"/api/v1/{prefix}"
    differences = []
    if hasattr(viewset, "list"):
        for name, model in _model_filters(viewset).items():
            theirs = model.objects.filter(team=team).first()
            if theirs is None:
                continue
            answers = [outsider.get(base, {name: pk}) for pk in (theirs.pk, NONEXISTENT)]
            if not _same_answer(*answers, theirs.pk):
                differences.append(f"?{name}=: {[a.status_code for a in answers]}")
    if hasattr(viewset, "create") and viewset.serializer_class is not None:
        for name, model in _team_owned_related(viewset.serializer_class(context={"team": other_team})).items():
            theirs = model.objects.filter(team=team).first()
            if theirs is None:
                continue
            answers = [outsider.post(base, {name: pk}, format="json") for pk in (theirs.pk, NONEXISTENT)]
            if not _same_answer(*answers, theirs.pk):
                differences.append(f"body {name}: {[a.content[:200] for a in answers]}")
    assert differences == [], "\n".join(differences)
