from django.conf import settings


def console(request):
    membership = getattr(request, "membership", None)
    return {
        "current_team": getattr(request, "team", None),
        "current_membership": membership,
        "team_memberships": getattr(request, "memberships", []),
        "debug": settings.DEBUG,
    }
