from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.db import connection
from django.http import Http404, HttpResponseServerError, JsonResponse
from django.shortcuts import redirect, render
from django.template import loader
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from core import replica

from . import handoff, health, outbound_webhooks, services
from .decorators import team_required
from .forms import ApiKeyForm, LoginForm, MemberForm, TeamSettingsForm, ThrottledPasswordResetForm
from .middleware import SESSION_TEAM_KEY
from .models import ApiKey, Membership, Team
from .permissions import ANY_MEMBER, PERMISSIONS, ROLE_PERMISSIONS, Role

WORKER_HEARTBEAT_MAX_AGE_SECONDS = 60


def module_pending(request, *, title):
    """The page for a console module that a later release fills in."""
    return render(request, "accounts/module_pending.html", {"title": title})


@require_POST
@team_required(ANY_MEMBER)
def switch_team(request):
    team_id = request.POST.get("team")
    if not any(str(m.team_id) == team_id for m in request.memberships):
        raise Http404
    request.session[SESSION_TEAM_KEY] = int(team_id)
    return redirect(request.POST.get("next") or "home")


@team_required("team.manage")
def team_settings(request):
    # A copy: a refused value must not show as the team's current setting on the re-rendered page.
    team = Team.objects.get(pk=request.team.pk)
    form = TeamSettingsForm(request.POST or None, request.FILES or None, instance=team)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("團隊設定已儲存。"))
        return redirect("team-settings")
    return render(request, "accounts/settings.html", _settings_context(request, form=form))


def _settings_context(request, **extra):
    context = {
        "section": "settings",
        "form": None,
        "api_key_form": ApiKeyForm(),
        "member_form": MemberForm(),
        "api_keys": ApiKey.objects.for_team(request.team).select_related("created_by"),
        "members": Membership.objects.filter(team=request.team).select_related("user").order_by("user__email"),
        "webhook_deliveries": outbound_webhooks.recent(request.team),
        "roles": Role.choices,
        "permission_rows": [
            (label, [perm in ROLE_PERMISSIONS[role] for role, _label in Role.choices])
            for perm, label in PERMISSIONS.items()
        ],
    }
    context.update(extra)
    return context


@require_POST
@team_required("team.manage")
def api_key_create(request):
    form = ApiKeyForm(request.POST)
    if form.is_valid():
        try:
            new = services.create_api_key(
                team=request.team,
                name=form.cleaned_data["name"],
                role=form.cleaned_data["role"],
                created_by=request.user,
                granted_by=request.membership.role,
            )
            return render(request, "accounts/settings.html#api-keys", _settings_context(request, new_key=new.raw_key))
        except services.RoleError as exc:
            form.add_error(None, exc)
    return render(request, "accounts/settings.html#api-keys", _settings_context(request, api_key_form=form), status=400)


@require_POST
@team_required("team.manage")
def api_key_revoke(request, pk):
    if not services.revoke_api_key(team=request.team, api_key_id=pk):
        raise Http404
    return render(request, "accounts/settings.html#api-keys", _settings_context(request))


@require_POST
@team_required("team.manage")
def member_add(request):
    form = MemberForm(request.POST)
    if form.is_valid():
        try:
            services.add_member(
                team=request.team, user=form.user, role=form.cleaned_data["role"], acting=request.membership
            )
            return render(request, "accounts/settings.html#members", _settings_context(request))
        except services.RoleError as exc:
            form.add_error(None, exc)
    return render(request, "accounts/settings.html#members", _settings_context(request, member_form=form), status=400)


@require_POST
@team_required("team.manage")
def member_remove(request, pk):
    membership = Membership.objects.filter(team=request.team, pk=pk).first()
    if membership is None:
        raise Http404
    try:
        services.remove_member(team=request.team, membership=membership, acting=request.membership)
    except services.RoleError as exc:
        context = _settings_context(request, member_error=exc.messages[0])
        return render(request, "accounts/settings.html#members", context, status=400)
    return render(request, "accounts/settings.html#members", _settings_context(request))


class LoginView(auth_views.LoginView):
    """Sign-in, throttled per account and per address (accounts/throttle.py)."""

    authentication_form = LoginForm


class PasswordResetView(auth_views.PasswordResetView):
    """Reset links, throttled per email and per address (accounts/throttle.py)."""

    form_class = ThrottledPasswordResetForm

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}


@require_POST
@team_required("team.manage")
def outbound_webhook_rotate_secret(request):
    outbound_webhooks.rotate_secret(request.team)
    return render(request, "accounts/settings.html#outbound-webhook", _settings_context(request, secret_rotated=True))


@require_GET
def healthz(request):
    """Database reachable, a worker heartbeat seen recently and no hand-off waiting for longer than
    HANDOFF_STALE_SECONDS (each cluster drains its consumers'). 200 when all hold, 503 otherwise."""
    checks = {"database": "ok", "worker": "ok"}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any database failure is reported, not raised
        checks["database"] = f"error: {exc.__class__.__name__}"
    heartbeat = worker_heartbeat()
    if heartbeat is None:
        checks["worker"] = "no heartbeat"
    else:
        age = (timezone.now() - heartbeat).total_seconds()
        checks["worker_heartbeat_age_seconds"] = round(age, 1)
        if age > WORKER_HEARTBEAT_MAX_AGE_SECONDS:
            checks["worker"] = "stale"
    if checks["database"] == "ok":
        # Work handed on but not yet handled, per consumer: a cluster that is down (or far behind) shows here.
        checks["handoff_backlog_seconds"] = backlog = handoff.backlog()
        if any(age > settings.HANDOFF_STALE_SECONDS for age in backlog.values()):
            checks["worker"] = "behind"
        checks.update(health.figures())  # oldest_webhook_event_age_seconds (messaging)
    try:
        by_cluster = health.queue_depth()
        checks["queue_depth"] = sum(by_cluster.values())
        checks["queue_depth_by_cluster"] = by_cluster
    except Exception as exc:  # noqa: BLE001 - an unreachable broker is reported, not raised
        checks["queue_depth"] = None
        checks["broker"] = f"error: {exc.__class__.__name__}"
    if replica.configured():
        # Reported, not a failure: a replica that lags beyond the bound (or is down) is bypassed, reads use the primary.
        lag = replica.lag_seconds(fresh=True)
        checks["replica_lag_seconds"] = None if lag is None else round(lag, 1)
        checks["replica"] = (
            "unreachable" if lag is None else ("ok" if lag <= replica.max_lag_seconds() else "lagging (bypassed)")
        )
    healthy = checks["database"] == "ok" and checks["worker"] == "ok"
    return JsonResponse({"status": "ok" if healthy else "degraded", **checks}, status=200 if healthy else 503)


def worker_heartbeat():
    """The newest heartbeat any django-q2 cluster has written to the shared cache, or None."""
    from django_q.status import Stat

    try:
        stats = Stat.get_all()
    except Exception:  # noqa: BLE001 - an unreachable broker means no heartbeat
        return None
    times = [stat.timestamp for stat in stats if getattr(stat, "timestamp", None)]
    return max(times) if times else None


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"code": "not_found", "message": "Not found.", "fields": {}}}, status=404)
    return render(request, "404.html", status=404)


def server_error(request):
    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"code": "server_error", "message": "Server error.", "fields": {}}}, status=500)
    # No request context: its processors read the database, which may be what failed.
    return HttpResponseServerError(loader.get_template("500.html").render({}))
