"""Console pages: the home page (KPIs) and the analytics page; each card reloads in place with HTMX and exports CSV."""

from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode

from accounts.decorators import team_required
from accounts.permissions import ANY_MEMBER
from cdp.models import Channel
from core.csv_lines import BOM, CsvLines
from core.params import parse_id
from core.replica import reads_from_replica

from . import charts, onboarding, services

CARD_PARAMS = {
    "kpis": (),
    "overview": ("start", "end", "unit", "channels"),
    "binding_sources": ("month",),
    "contact_sources": ("month",),
    "valid_contacts": (),
}


def _params(request, name):
    params = {key: request.GET.get(key) for key in ("start", "end", "unit", "month")}
    params["channels"] = request.GET.getlist("channels") or None
    return {key: params[key] for key in CARD_PARAMS[name]}


def card_context(request, name):
    """Everything one card's partial needs: its data, its chart JSON, its filters and its CSV link."""
    team = request.team
    params = _params(request, name)
    ctx = {"name": name, "errors": {}, "data": None}
    try:
        data = services.figure_data(team, name, params)
    except ValidationError as exc:
        ctx["errors"] = exc.message_dict
        data = None
    ctx["data"] = data
    # Charts with nothing to draw say so, with the next step, instead of blank axes (issue 20.10).
    if data is not None and name == "overview":
        ctx["empty"] = not data.get("series")
    elif data is not None and name in ("binding_sources", "contact_sources"):
        ctx["empty"] = not data.get("total")
    if name == "overview":
        ctx["all_channels"] = list(Channel.objects.for_team(team).order_by("kind", "name", "pk"))
        ctx["units"] = list(services.UNITS.items())
        if data is not None:
            figures = charts.overview(data)
            ctx["panels"] = [
                (key, services.METRIC_LABELS[key], services.PANEL_NOTES[key], services.PANEL_HELP[key], figures[key])
                for key in figures
            ]
            ctx["selected"] = {s["channel"]["id"] for s in data["series"]}
            ctx["filters"] = {"start": data["start"].isoformat(), "end": data["end"].isoformat(), "unit": data["unit"]}
            params = {**ctx["filters"], "channels": ",".join(str(pk) for pk in sorted(ctx["selected"]))}
        else:
            ctx["selected"] = {parse_id(v) for v in services._channel_ids(params.get("channels")) or []} - {None}
            ctx["filters"] = {k: params.get(k) or "" for k in ("start", "end", "unit")}
    elif name == "contact_sources" and data is not None:
        ctx["show_all"] = request.GET.get("all_sources") == "1"
        shown = services.shown_sources(team, data, show_all=ctx["show_all"])
        ctx["hidden"] = shown.get("hidden", 0)
        ctx["figure"] = charts.contact_sources(shown)
        params = {"month": data["month"]}
    elif name == "binding_sources" and data is not None:
        ctx["figure"] = getattr(charts, name)(data)
        params = {"month": data["month"]}
    elif name == "valid_contacts" and data is not None:
        ctx["figure"] = charts.valid_contacts(data)
    if name in ("binding_sources", "contact_sources"):
        ctx["month"] = data["month"] if data else (params.get("month") or "")
    query = {k: v for k, v in params.items() if v}
    ctx["csv_url"] = reverse("analytics:export", args=[name]) + (f"?{urlencode(query)}" if query else "")
    return ctx


@team_required(ANY_MEMBER)
@reads_from_replica
def home(request):
    context = {
        "section": "home",
        "can_view": request.membership.has_perm("analytics.view"),
        "checklist": onboarding.checklist(request.team),
    }
    if context["can_view"]:
        context["kpis"] = card_context(request, "kpis")
    return render(request, "analytics/home.html", context)


@team_required("analytics.view")
@reads_from_replica
def index(request):
    cards = {name: card_context(request, name) for name in services.FIGURES}
    return render(request, "analytics/index.html", {"section": "analytics", "cards": cards})


@team_required("analytics.view")
@reads_from_replica
def card(request, name):
    """One card, re-rendered with the request's filters (HTMX swaps it in place)."""
    if name not in CARD_PARAMS:
        raise Http404
    return render(request, f"analytics/cards.html#{name}", {"card": card_context(request, name)})


@team_required("analytics.view")
@reads_from_replica
def export(request, name):
    """A card's figure as CSV (UTF-8 with BOM so spreadsheet apps read the Chinese labels)."""
    if name not in CARD_PARAMS:
        raise Http404
    try:
        data = services.figure_data(request.team, name, _params(request, name))
    except ValidationError as exc:
        lines = [f"{field}: {message}" for field, messages in exc.message_dict.items() for message in messages]
        return HttpResponse("\n".join(lines), status=400, content_type="text/plain; charset=utf-8")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    lines = CsvLines()
    response.write(BOM + "".join(lines.row(row) for row in services.csv_rows(name, data)))
    return response
