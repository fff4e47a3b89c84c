from django.utils import timezone

from .models import Membership

SESSION_TEAM_KEY = "current_team_id"
_SKIP_PREFIXES = ("/static/", "/api/", "/webhooks/", "/healthz", "/r/")


class CurrentTeamMiddleware:
    """Resolve request.team / request.membership for console requests from the session's chosen team."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.team = None
        request.membership = None
        if not request.path.startswith(_SKIP_PREFIXES) and request.user.is_authenticated:
            resolve_current_team(request)
        if request.team is None:
            return self.get_response(request)
        # Times are stored in UTC and shown (and typed into forms) in the team's time zone.
        with timezone.override(request.team.zone):
            return self.get_response(request)


def resolve_current_team(request):
    memberships = list(Membership.objects.filter(user=request.user).select_related("team").order_by("team__name"))
    request.memberships = memberships
    wanted = request.session.get(SESSION_TEAM_KEY)
    current = next((m for m in memberships if m.team_id == wanted), None) or (memberships[0] if memberships else None)
    if current is not None:
        request.team = current.team
        request.membership = current
        if wanted != current.team_id:
            request.session[SESSION_TEAM_KEY] = current.team_id
    return current


class RejectNulBytesMiddleware:
    """A NUL byte in a query or form parameter is a 400: PostgreSQL text columns cannot hold one, so letting it
    through would turn a search box into a 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith("/webhooks/") and _has_nul(request):
            if request.path.startswith("/api/"):
                from django.http import JsonResponse

                body = {"error": {"code": "invalid", "message": "Parameters must not contain NUL bytes.", "fields": {}}}
                return JsonResponse(body, status=400)
            from django.http import HttpResponseBadRequest

            return HttpResponseBadRequest("Parameters must not contain NUL bytes.")
        return self.get_response(request)


def _has_nul(request):
    params = [request.GET]
    # The API reads JSON only (its parser refuses NUL characters); reading a form body here would consume the
    # stream and hide the form from DRF, which would then see an empty body instead of answering 415.
    if (
        request.method == "POST"
        and not request.path.startswith("/api/")
        and request.content_type
        in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        )
    ):
        params.append(request.POST)
    return any("\x00" in key or any("\x00" in value for value in values) for p in params for key, values in p.lists())
