"""API authentication: `Authorization: Bearer <key>` for machines, the console session for the docs page.

Either way `request.auth` ends up as an object with `.team` and `.has_perm(permission)` (an ApiKey or a
Membership), which is all the team-scoped base view needs.
"""

from django.contrib.auth.models import AnonymousUser
from rest_framework import authentication, exceptions, permissions, throttling

from .middleware import resolve_current_team
from .services import authenticate_api_key


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, raw_key = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        raw_key = raw_key.strip()
        if not raw_key:
            raise exceptions.AuthenticationFailed("Empty API key.")
        api_key = authenticate_api_key(raw_key)
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        return AnonymousUser(), api_key

    def authenticate_header(self, request):
        return self.keyword


class TeamSessionAuthentication(authentication.SessionAuthentication):
    """A logged-in console user acts for their current team (used by the browsable docs)."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user, _ = result
        membership = resolve_current_team(request._request)
        if membership is None:
            return None
        return user, membership


class IsTeamMember(permissions.BasePermission):
    """The credential belongs to a team and its role holds the permission the view requires.

    A view that declares no `required_permissions` is open to owner credentials only (permissions fail closed);
    accounts/tests/test_view_permissions.py fails until it declares them."""

    message = "Your role does not allow this action."

    def has_permission(self, request, view):
        credential = request.auth
        if credential is None or getattr(credential, "team", None) is None:
            raise exceptions.NotAuthenticated()
        return credential.has_perm(_required_permission(request, view))


def _required_permission(request, view):
    spec = getattr(view, "required_permissions", None)
    if not spec:
        return None
    action = getattr(view, "action", None)
    if action and action in spec:
        return spec[action]
    return spec["read"] if request.method in permissions.SAFE_METHODS else spec.get("write", spec["read"])


class ApiKeyRateThrottle(throttling.SimpleRateThrottle):
    """Per-key (or per-user for session calls) request rate; the rate is the API_THROTTLE_RATE environment variable
    (REST_FRAMEWORK's DEFAULT_THROTTLE_RATES)."""

    scope = "api_key"

    def get_rate(self):
        # Read the live setting (not the class attribute bound at import) so a changed rate takes effect.
        from rest_framework.settings import api_settings

        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]

    def get_cache_key(self, request, view):
        credential = request.auth
        if credential is None:
            return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
        kind = type(credential).__name__.lower()
        return self.cache_format % {"scope": self.scope, "ident": f"{kind}:{credential.pk}"}
