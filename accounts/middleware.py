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
