from django.conf import settings

from . import warnings


def console(request):
    membership = getattr(request, "membership", None)
    return {
        "current_team": getattr(request, "team", None),
        "current_membership": membership,
        "team_memberships": getattr(request, "memberships", []),
        "account_warnings": _account_warnings(request),
        "debug": settings.DEBUG,
    }


def _account_warnings(request):
    """Warnings for the sticky bar. Apps contribute through accounts.warnings.register (billing: low balance)."""
    team = getattr(request, "team", None)
    if team is None:
        return []
    return warnings.collect(request, team)
