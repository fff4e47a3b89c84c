"""Every console page and API endpoint declares the permission it requires, and answers each role as the matrix
(accounts/permissions.py, the README's table) says. Permissions fail closed: a view that declares none is open to
owners only."""

import pytest
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import URLResolver, get_resolver
from rest_framework.test import APIRequestFactory

from accounts.api_auth import IsTeamMember
from accounts.api_base import TeamScopedViewSet
from accounts.decorators import team_required
from accounts.models import ApiKey
from accounts.permissions import ANY_MEMBER, PERMISSIONS, Role, role_has_permission
from tests.console_urls import console_routes
from tests.factories import MembershipFactory, api_key_for
from tests.tenancy import CONSOLE_CASES

ROUTES = console_routes()
# API views anyone may read: the OpenAPI schema and its docs page.
PUBLIC_API_VIEWS = {"api-schema", "api-docs"}


def test_every_console_view_declares_its_permission():
    undeclared = [
        route.name
        for route in ROUTES
        if getattr(route.callback, "required_permission", None) not in {*PERMISSIONS, ANY_MEMBER}
    ]
    assert not undeclared, f'Decorate these console views with @team_required("<permission>"): {undeclared}'


def test_every_console_url_with_arguments_has_a_case():
    missing = [route.name for route in ROUTES if route.converters and route.name not in CONSOLE_CASES]
    assert not missing, f"Add a console case (tests/tenancy.py) for: {missing}"


def _api_views(patterns):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _api_views(pattern.url_patterns)
        else:
            yield pattern.name, pattern.callback.cls


def test_every_api_view_declares_its_permission():
    (api_v1,) = [p for p in get_resolver().url_patterns if str(p.pattern) == "api/v1/"]
    views = list(_api_views(api_v1.url_patterns))
    assert len(views) > 20
    undeclared = []
    for name, cls in views:
        spec = getattr(cls, "required_permissions", None) or {}
        known = {*PERMISSIONS, ANY_MEMBER}
        if IsTeamMember not in cls.permission_classes or "read" not in spec or not set(spec.values()) <= known:
            undeclared.append(name)
    assert not undeclared, f"Set required_permissions = {{'read': ..., 'write': ...}} on: {undeclared}"


def test_public_api_views_are_only_the_schema_and_its_docs():
    from django.urls import reverse

    from config.urls import urlpatterns

    public = {p.name for p in urlpatterns if getattr(getattr(p, "callback", None), "cls", None) is not None}
    assert public == PUBLIC_API_VIEWS, "an API view outside /api/v1/ is public: add it here only if it must be"
    assert reverse("api-schema") and reverse("api-docs")


@pytest.mark.parametrize("role", list(Role))
def test_undeclared_permission_is_for_owners_only(role):
    assert role_has_permission(role, None) is (role == Role.OWNER)
    assert role_has_permission(role, ANY_MEMBER) is True


@pytest.mark.django_db
@pytest.mark.parametrize("role,allowed", [(Role.OWNER, True), (Role.ADMIN, False), (Role.AGENT, False)])
def test_a_console_view_without_a_permission_is_owner_only(team, role, allowed):
    view = team_required()(lambda request: HttpResponse("ok"))
    membership = MembershipFactory(team=team, role=role)
    request = RequestFactory().get("/")
    request.user, request.team, request.membership = membership.user, team, membership
    if allowed:
        assert view(request).status_code == 200
    else:
        with pytest.raises(PermissionDenied):
            view(request)


@pytest.mark.django_db
@pytest.mark.parametrize("role,allowed", [(Role.OWNER, True), (Role.ADMIN, False), (Role.AGENT, False)])
def test_an_api_view_without_a_permission_is_owner_only(team, role, allowed):
    class Undeclared(TeamScopedViewSet):
        queryset = ApiKey.objects.all()

    request = APIRequestFactory().get("/")
    request.auth = api_key_for(team, role=role).api_key
    assert IsTeamMember().has_permission(request, Undeclared()) is allowed


def test_scoped_viewset_refuses_a_get_queryset_override():
    with pytest.raises(TypeError, match="scope_queryset"):

        class Leaky(TeamScopedViewSet):
            def get_queryset(self):
                return ApiKey.objects.all()

    class AllKeysMixin:
        def get_queryset(self):
            return ApiKey.objects.all()

    with pytest.raises(TypeError, match="scope_queryset"):

        class LeakyThroughAMixin(AllKeysMixin, TeamScopedViewSet):
            pass

    class Narrowed(TeamScopedViewSet):
        def scope_queryset(self, queryset):
            return queryset.filter(revoked_at__isnull=True)


# Pages that need a query to answer 200.
QUERIES = {
    "messaging:conversation-export": "?start=2026-01-01&end=2026-01-31",
    "omnilink:participants-csv": "?start=2026-01-01&end=2026-01-31",
}


def _status(client, url, method):
    return getattr(client, method)(url).status_code


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(Role))
def test_each_console_page_answers_each_role_as_the_matrix_says(client, team, role):
    """For each role, every console URL: 403 when the role lacks the view's permission, 200 for a page it may open
    (POST-only actions answer 405 to GET, whoever asks, and are posted only by roles that may not)."""
    client.force_login(MembershipFactory(team=team, role=role).user)
    wrong = []
    for route in ROUTES:
        url = route.url(route.case(team)) + QUERIES.get(route.name, "")
        allowed = role_has_permission(role, route.callback.required_permission)
        status = _status(client, url, "get")
        if status == 405:
            if not allowed and _status(client, url, "post") != 403:
                wrong.append((route.name, "POST", allowed))
            continue
        if status != (200 if allowed else 403):
            wrong.append((route.name, status, allowed))
    assert not wrong, wrong
