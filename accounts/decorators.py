from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render


def team_required(permission=None):
    """Console views: a logged-in member of the current team, holding `permission` when one is named."""

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.membership is None:
                return render(request, "accounts/no_team.html", status=403)
            if permission and not request.membership.has_perm(permission):
                raise PermissionDenied(permission)
            return view(request, *args, **kwargs)

        wrapped.required_permission = permission
        return wrapped

    return decorator
