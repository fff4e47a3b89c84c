from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render


def team_required(permission=None):
    """Console views: a logged-in member of the current team whose role holds `permission`.

    Every view names one (a key of accounts.permissions.PERMISSIONS, or ANY_MEMBER for pages every member may
    open). A view that names none is open to owners only (permissions fail closed), and
    accounts/tests/test_view_permissions.py fails until it declares one.
    """

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.membership is None:
                return render(request, "accounts/no_team.html", status=403)
            if not request.membership.has_perm(permission):
                raise PermissionDenied(permission)
            return view(request, *args, **kwargs)

        wrapped.required_permission = permission
        return wrapped

    return decorator
