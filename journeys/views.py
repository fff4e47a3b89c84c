"""Console pages: the journey list, the builder (HTMX, node drawer), statistics, versions, test a journey."""

import copy

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget, trigger_client_event

from accounts.decorators import team_required
from accounts.tenancy import get_for_team_or_404
from audiences import builder as condition_builder
from audiences.models import AudiencePack
from audiences.views import builder_context as condition_builder_context
from cdp.models import Channel, CustomAttribute, Customer, Tag
from core.params import parse_id
from core.replica import reads_from_replica
from messaging.models import ChatbotModule, WhatsAppTemplate
from messaging.services.content import wechat_data_text

from . import forms, labels, services, stats
from . import graph as g
from .labels import NODE_LABELS, condition_location
from .models import Journey, JourneyVersion, TriggerType
from .statemachine import JourneyStatus, actions_for, can_edit, warning_for

PERM = "journeys.manage"


def _journey(request, pk):
    return get_object_or_404(Journey.objects.for_team(request.team).select_related("current_version"), pk=pk)


@team_required(PERM)
def index(request):
    journeys = Journey.objects.for_team(request.team).select_related("current_version")
    q = request.GET.get("q", "").strip()
    status = request.GET.get("status", "")
    trigger = request.GET.get("trigger", "")
    if q:
        journeys = journeys.filter(name__icontains=q)
    if status in JourneyStatus.values:
        journeys = journeys.filter(status=status)
    if trigger in TriggerType.values:
        journeys = journeys.filter(trigger_type=trigger)
    rows = [{"journey": j, "actions": actions_for(j.status), "warning": warning_for(j.status_reason)} for j in journeys]
    context = {
        "section": "journeys",
        "rows": rows,
        "q": q,
        "status": status,
        "trigger": trigger,
        "statuses": JourneyStatus.choices,
        "triggers": TriggerType.choices,
    }
    template = "journeys/index.html#table" if request.htmx else "journeys/index.html"
    return render(request, template, context)


@require_POST
@team_required(PERM)
def create(request):
    try:
        journey = services.create_journey(team=request.team, name=request.POST.get("name") or _("未命名旅程"))
    except services.JourneyError as error:
        messages.error(request, "; ".join(error.messages))
        return redirect("journeys:index")
    return redirect("journeys:builder", pk=journey.pk)


@require_POST
@team_required(PERM)
def action(request, pk, name):
    journey = _journey(request, pk)
    try:
        result = services.run_action(journey, name, actor=request.user.get_username())
    except services.JourneyError as error:
        messages.error(request, "; ".join(error.messages))
        return redirect("journeys:index")
    if name == "copy":
        messages.success(request, _("已複製旅程。"))
        return redirect("journeys:builder", pk=result.pk)
    messages.success(request, _("已更新旅程狀態。") if name != "delete" else _("已刪除旅程。"))
    return redirect("journeys:index")


def builder_context(request, journey, **extra):
    team = request.team
    graph = journey.draft_graph or (journey.current_version.graph if journey.current_version else g.empty_graph())
    compiled = g.compile_graph(graph)
    counts = stats.node_counts(journey.current_version) if journey.current_version else {}
    older = []
    for version_id, by_node in services.version_node_counts(journey).items():
        version = JourneyVersion.objects.for_team(team).get(pk=version_id)
        # Name each old node by its type and contents: a bare id means nothing to a marketer.
        nodes = [(node_id, g.find_node(version.graph, node_id), n) for node_id, n in sorted(by_node.items())]
        older.append({"version": version, "nodes": nodes})
    move_targets = services.move_targets(journey) if older else []
    targets = {t.channel_id: t for t in journey.targets.all()}
    channels = [
        {"channel": c, "selected": c.pk in targets, "cap": targets[c.pk].message_cap if c.pk in targets else None}
        for c in Channel.objects.for_team(team).active()
    ]
    dnd = list(journey.dnd_segments or []) + [["", ""]]
    return {
        "section": "journeys",
        "journey": journey,
        "nodes": graph.get("nodes", []),
        "compiled": compiled,
        "counts": counts,
        "older": older,
        "move_targets": move_targets,
        "channels": channels,
        "dnd": dnd,
        "triggers": TriggerType.choices,
        "tags": Tag.objects.for_team(team).filter(archived_at__isnull=True),
        "attributes": CustomAttribute.objects.for_team(team).active(),
        "node_types": NODE_LABELS,
        "positions": {node_id: index for node_id, (index, _node) in labels.node_positions(graph).items()},
        "edit_settings": can_edit(journey.status, "settings"),
        "edit_draft_only": can_edit(journey.status, "activation"),
        "edit_structure": can_edit(journey.status, "structure"),
        "edit_nodes": can_edit(journey.status, "node_contents"),
        "starts_local": _local_input(team, journey.starts_at),
        "ends_local": _local_input(team, journey.ends_at),
        "warning": warning_for(journey.status_reason),
        **extra,
    }


def _local_input(team, value):
    return team.localtime(value).strftime("%Y-%m-%dT%H:%M") if value else ""


@team_required(PERM)
def builder(request, pk):
    journey = _journey(request, pk)
    return render(request, "journeys/builder.html", builder_context(request, journey))


@require_POST
@team_required(PERM)
def save_settings(request, pk):
    journey = _journey(request, pk)
    errors = {}
    try:
        services.update_settings(journey, values=forms.settings_values(request.POST, journey, request.team))
    except forms.FormError as error:
        errors = error.errors
    except services.JourneyError as error:
        errors = error.message_dict
    journey.refresh_from_db()
    if request.POST.get("then") == "publish" and not errors:
        return publish(request, pk)
    context = builder_context(request, journey, settings_errors=errors, saved=not errors)
    status = 400 if errors else 200
    return render(request, "journeys/builder.html#settings", context, status=status)


@require_POST
@team_required(PERM)
def publish(request, pk):
    journey = _journey(request, pk)
    try:
        version = services.publish(journey, actor=request.user.get_username())
    except services.JourneyError as error:
        context = builder_context(request, journey, publish_errors=_publish_errors(journey, error.message_dict))
        response = render(request, "journeys/builder.html#flowcard", context, status=400)
        return reswap(retarget(response, "#flowcard"), "outerHTML")  # also when publishing from the settings form
    messages.success(request, _("已發佈版本 %(n)s。") % {"n": version.number})
    if not request.htmx:
        return redirect("journeys:builder", pk=journey.pk)
    return HttpResponseClientRedirect(reverse("journeys:builder", args=[journey.pk]))


def _publish_errors(journey, message_dict):
    """Each error with its place in words (labels.error_where); `node` only links to the node's card."""
    graph = journey.draft_graph or (journey.current_version.graph if journey.current_version else {})
    positions = labels.node_positions(graph)
    out = []
    for key, messages_ in message_dict.items():
        node = key.split(".")[1] if key.startswith("nodes.") else ""
        where = labels.error_where(graph, key, positions)
        out.append({"node": node, "where": where, "message": "; ".join(messages_)})
    return out


@require_POST
@team_required(PERM)
def add_node(request, pk):
    journey = _journey(request, pk)
    try:
        node = services.add_node(
            journey,
            type=request.POST.get("type", ""),
            after=request.POST.get("after") or None,
            parent=request.POST.get("parent") or None,
            branch=request.POST.get("branch") or None,
        )
    except services.JourneyError as error:
        context = builder_context(request, journey, flow_error="; ".join(error.messages))
        return render(request, "journeys/builder.html#flowcard", context, status=400)
    context = builder_context(request, journey, open_node=node["id"])
    return render(request, "journeys/builder.html#flowcard", context)


@team_required(PERM)
def node_drawer(request, pk, node_id):
    journey = _journey(request, pk)
    graph = journey.draft_graph or (journey.current_version.graph if journey.current_version else {})
    node = g.find_node(graph, node_id)
    if node is None:
        raise Http404
    errors = {}
    config = node.get("config") or {}
    if request.method == "POST":
        try:
            config = forms.node_config(node["type"], request.POST)
            services.update_node(journey, node_id, config)
        except forms.FormError as error:
            errors = error.errors
        except services.JourneyError as error:
            errors = error.message_dict
        if not errors:
            response = render(request, "journeys/builder.html#flowcard", builder_context(request, journey))
            return trigger_client_event(response, "drawer-close")
        node = {**node, "config": config}
    response = render(
        request,
        "journeys/drawer.html",
        _drawer_context(request, journey, node, errors),
        status=400 if errors else 200,
    )
    if errors:  # the form targets the flow; its errors belong in the drawer
        reswap(retarget(response, "#drawer"), "innerHTML")
    return response


def _drawer_context(request, journey, node, errors):
    team = request.team
    graph = journey.draft_graph or (journey.current_version.graph if journey.current_version else {})
    context = {
        "journey": journey,
        "node": node,
        "node_title": labels.node_name_in(graph, node["id"]),
        "field_errors": [
            {"key": key, "label": labels.NODE_FIELDS.get(key), "message": "; ".join(map(str, _as_list(messages_)))}
            for key, messages_ in errors.items()
        ],
        "config": node.get("config") or {},
        "errors": errors,
        "editable": can_edit(journey.status, "node_contents"),
        "targets": [t.channel for t in journey.targets.select_related("channel")],
        "attributes": CustomAttribute.objects.for_team(team).active(),
        "tags": Tag.objects.for_team(team).filter(archived_at__isnull=True),
    }
    if node["type"] == "message":
        context["modules"] = ChatbotModule.objects.for_team(team).filter(deleted_at__isnull=True)
        context["templates"] = WhatsAppTemplate.objects.for_team(team).filter(deleted_at__isnull=True)
        context["parameters"] = "\n".join(node.get("config", {}).get("parameters") or [])
        context["wechat_data"] = wechat_data_text(node.get("config", {}).get("data"))
    if node["type"] == "split":
        tree = (node.get("config") or {}).get("conditions") or {}
        if not tree.get("children"):
            tree = condition_builder.DEFAULT_TREE
        located = [(key, *condition_location(key)) for key in errors]
        bad_path = next((path for _key, path, _where in located if path), "")
        context.update(_split_builder_context(request, journey, node["id"], tree, bad_path))
        context["packs"] = AudiencePack.objects.for_team(team).active().select_related("channel")
        context["condition_errors"] = [
            {"key": key, "where": where, "message": "; ".join(errors[key])} for key, _path, where in located
        ]
    return context


def _as_list(messages_):
    return messages_ if isinstance(messages_, list | tuple) else [messages_]


def _split_builder_context(request, journey, node_id, tree, bad_path=""):
    """The audiences condition builder, embedded: its actions post to the journey's own endpoint."""
    return condition_builder_context(
        request.team,
        tree,
        builder_url=reverse("journeys:split_builder", args=[journey.pk, node_id]),
        bad_path=bad_path,
    )


@require_POST
@team_required(PERM)
def split_builder(request, pk, node_id):
    """HTMX, the split drawer's condition builder: add / remove a condition or group, change a type, or copy an
    audience pack's conditions in. Re-renders the builder; nothing is stored until the node is saved."""
    journey = _journey(request, pk)
    graph = journey.draft_graph or (journey.current_version.graph if journey.current_version else {})
    node = g.find_node(graph, node_id)
    if node is None or node.get("type") != "split":
        raise Http404
    tree = condition_builder.tree_from_form(request.POST) or condition_builder.DEFAULT_TREE
    action = request.POST.get("action", "")
    if action == "copy_pack":
        pack_id = request.POST.get("from_pack", "")
        pack = AudiencePack.objects.for_team(request.team).filter(pk=parse_id(pack_id) or 0).first()
        if pack is not None and isinstance(pack.conditions, dict) and pack.conditions.get("children"):
            tree = copy.deepcopy(pack.conditions)
    else:
        tree = condition_builder.apply_action(tree, action)
    context = _split_builder_context(request, journey, node_id, tree)
    return render(request, "audiences/partials/builder.html", context)


@require_POST
@team_required(PERM)
def delete_node(request, pk, node_id):
    journey = _journey(request, pk)
    try:
        services.delete_node(journey, node_id)
    except services.JourneyError as error:
        context = builder_context(request, journey, flow_error="; ".join(error.messages))
        return render(request, "journeys/builder.html#flowcard", context, status=400)
    return render(request, "journeys/builder.html#flowcard", builder_context(request, journey))


@require_POST
@team_required(PERM)
def move(request, pk):
    """Move customers waiting on a node of an older version to a chosen node of the current version: a dry-run
    count first (the default), then `apply=1`; `reset=1` shows the target choice again."""
    journey = _journey(request, pk)
    version = get_for_team_or_404(JourneyVersion, request.team, request.POST.get("version"))
    node_id = request.POST.get("node", "")
    to_node = request.POST.get("to_node") or node_id
    targets = services.move_targets(journey)
    context = {"journey": journey, "version": version, "node_id": node_id, "to_node": to_node, "targets": targets}
    if request.POST.get("reset") == "1":
        return render(request, "journeys/_move_form.html", context)
    try:
        context["result"] = services.move_waiting(
            journey,
            from_version=version,
            node_id=node_id,
            to_node=to_node,
            dry_run=request.POST.get("apply") != "1",
        )
    except services.JourneyError as error:
        context["error"] = "; ".join(error.messages)
        return render(request, "journeys/_move_form.html", context, status=400)
    context["target"] = g.find_node(journey.current_version.graph, to_node)
    return render(request, "journeys/move_result.html", context)


@team_required(PERM)
@reads_from_replica
def statistics(request, pk):
    journey = _journey(request, pk)
    versions = list(journey.versions.all())
    selected = None
    if request.GET.get("version"):
        selected = next((v for v in versions if str(v.pk) == request.GET["version"]), None)
    # The same service function as GET /api/v1/journeys/{id}/statistics (issue 24.6).
    context = {"section": "journeys", "versions": versions, **stats.journey_statistics(journey, selected)}
    return render(request, "journeys/statistics.html", context)


@require_GET
@team_required(PERM)
@reads_from_replica
def node_stats(request, pk, node_id):
    """HTMX, the drawer's figures for one node of the published version (seed 002: click a message node to see its
    data): the statistics page's queries for that node only."""
    journey = _journey(request, pk)
    figures = stats.one_node_statistics(journey, node_id)
    graph = journey.draft_graph or (journey.current_version.graph if journey.current_version else {})
    if figures is None and g.find_node(graph, node_id) is None:
        raise Http404
    return render(request, "journeys/_node_stats.html", {"journey": journey, "figures": figures})


@team_required(PERM)
def test_journey(request, pk):
    journey = _journey(request, pk)
    customers = Customer.objects.for_team(request.team).active()
    q = request.GET.get("q", "").strip()
    found = []
    if q:
        found = list(customers.search(request.team, q).order_by("id")[:10])
    path = None
    customer = None
    if request.GET.get("customer"):
        customer = get_for_team_or_404(customers, request.team, request.GET["customer"])
        from .simulate import simulate

        path = simulate(journey, customer)
    context = {"section": "journeys", "journey": journey, "q": q, "found": found, "customer": customer, "path": path}
    return render(request, "journeys/test.html", context)
