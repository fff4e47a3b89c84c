"""Console pages: audience packs (list, editor with live count and preview) and broadcasts."""

import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import team_required
from cdp.models import AttributeValue, Channel, Contact, CustomAttribute, Customer, Tag
from core.params import parse_id
from core.replica import reads_from_replica
from messaging.models import ChatbotModule, WhatsAppTemplate
from messaging.services.content import wechat_data_from_text, wechat_data_text

from . import builder, services
from .forms import CONTENT_TYPE_KINDS, BroadcastForm
from .models import BROADCAST_CHANNEL_KINDS, PACK_CHANNEL_KINDS, AudiencePack, Broadcast, BroadcastStatus


def _channels(team, kinds=PACK_CHANNEL_KINDS):
    return Channel.objects.for_team(team).filter(kind__in=kinds)


# ------------------------------------------------------------------------------------------------ pack list


@team_required("audiences.manage")
def index(request):
    tab = "archived" if request.GET.get("tab") == "archived" else "active"
    packs = AudiencePack.objects.for_team(request.team).select_related("channel")
    packs = packs.archived() if tab == "archived" else packs.active()
    query = request.GET.get("q", "").strip()
    if query:
        packs = packs.filter(name__icontains=query)
    channel_id = request.GET.get("channel", "")
    if parse_id(channel_id) is not None:
        packs = packs.filter(channel_id=parse_id(channel_id))
    page = Paginator(packs, 25).get_page(request.GET.get("page"))
    context = {
        "section": "audiences",
        "page": page,
        "tab": tab,
        "q": query,
        "channel_id": channel_id,
        "channels": _channels(request.team),
    }
    template = "audiences/pack_list.html#pack-table" if request.htmx else "audiences/pack_list.html"
    return render(request, template, context)


@require_POST
@team_required("audiences.manage")
def pack_action(request, pk, verb):
    pack = get_object_or_404(AudiencePack.objects.for_team(request.team), pk=pk)
    if verb == "copy":
        copy = services.copy_pack(pack, user=request.user)
        messages.success(request, _("已複製受眾包，請編輯新的受眾包。"))
        return redirect("audiences:pack-edit", pk=copy.pk)
    if verb == "archive":
        services.archive_pack(pack)
        messages.success(request, _("受眾包已封存。"))
    elif verb == "reactivate":
        services.reactivate_pack(pack)
        messages.success(request, _("受眾包已重新啟用。"))
    return redirect(request.POST.get("next") or "audiences:index")


# --------------------------------------------------------------------------------------------- pack editor


def _attributes(team):
    return {a.key: a for a in CustomAttribute.objects.for_team(team).active()}


def _builder_context(team, tree, **extra):
    attributes = _attributes(team)
    context = {
        "rows": builder.rows(tree, attributes),
        "type_choices": builder.TYPE_CHOICES,
        "tags": Tag.objects.for_team(team).filter(archived_at__isnull=True),
        "attributes": attributes.values(),
        "sources": builder.SOURCE_CHOICES,
        "all_channels": Channel.objects.for_team(team),
        "tree_json": json.dumps(tree, ensure_ascii=False),
    }
    context.update(extra)
    return context


# Public: other apps embed the builder partial (journeys' split-node drawer passes its own builder_url).
builder_context = _builder_context


@team_required("audiences.manage")
def pack_edit(request, pk=None):
    pack = get_object_or_404(AudiencePack.objects.for_team(request.team), pk=pk) if pk else None
    tree = pack.conditions if pack else builder.DEFAULT_TREE
    errors = {}
    if request.method == "POST":
        tree = builder.tree_from_form(request.POST) or tree
        name = request.POST.get("name", "")
        try:
            if pack:
                services.update_pack(pack, name=name, conditions=tree)
            else:
                channel = _channels(request.team).filter(pk=parse_id(request.POST.get("channel"))).first()
                pack = services.create_pack(
                    team=request.team, name=name, channel=channel, conditions=tree, user=request.user
                )
            messages.success(request, _("受眾包已儲存。"))
            return redirect("audiences:pack-edit", pk=pack.pk)
        except services.AudienceError as exc:
            errors = {exc.field: exc.message}
    context = _builder_context(
        request.team,
        tree,
        section="audiences",
        pack=pack,
        errors=errors,
        channels=_channels(request.team),
        name=request.POST.get("name", pack.name if pack else ""),
        channel_id=parse_id(request.POST.get("channel")) or (pack.channel_id if pack else None),
    )
    return render(request, "audiences/pack_edit.html", context, status=400 if errors else 200)


@require_POST
@team_required("audiences.manage")
def builder_action(request):
    """HTMX: apply a builder action (add / remove a condition or group, change a type) and re-render it."""
    tree = builder.tree_from_form(request.POST) or builder.DEFAULT_TREE
    tree = builder.apply_action(tree, request.POST.get("action", ""))
    return render(request, "audiences/partials/builder.html", _builder_context(request.team, tree))


def _posted_audience(request):
    tree = builder.tree_from_form(request.POST)
    channel = _channels(request.team).filter(pk=parse_id(request.POST.get("channel"))).first()
    return channel, tree


@require_POST
@team_required("audiences.manage")
@reads_from_replica
def count(request):
    """HTMX "update count": the live count of the conditions on the form."""
    channel, tree = _posted_audience(request)
    context = {}
    try:
        context["count"] = services.count_audience(team=request.team, channel=channel, conditions=tree)
        context["counted_at"] = timezone.now()
        pack_id = parse_id(request.POST.get("pack"))
        if pack_id:
            AudiencePack.objects.for_team(request.team).filter(pk=pack_id, conditions=tree).update(
                last_count=context["count"], last_counted_at=context["counted_at"]
            )
    except services.AudienceError as exc:
        context["error"] = exc
    return render(request, "audiences/partials/count.html", context)


@require_POST
@team_required("audiences.manage")
@reads_from_replica
def preview(request):
    """HTMX "view list": the first 50 matching contacts."""
    channel, tree = _posted_audience(request)
    context = {}
    try:
        context["contacts"] = services.preview(team=request.team, channel=channel, conditions=tree)
    except services.AudienceError as exc:
        context["error"] = exc
    return render(request, "audiences/partials/preview.html", context)


@team_required("customers.view")
def customer_drawer(request, pk):
    """The customer's profile in the #drawer (from the audience preview)."""
    customer = get_object_or_404(Customer.objects.for_team(request.team), pk=pk)
    context = {
        "customer": customer,
        "contacts": Contact.objects.for_team(request.team).filter(customer=customer).select_related("channel"),
        "tags": Tag.objects.for_team(request.team).filter(customer_tags__customer=customer),
        "values": AttributeValue.objects.for_team(request.team).filter(customer=customer).select_related("attribute"),
    }
    return render(request, "audiences/partials/customer_drawer.html", context)


# ----------------------------------------------------------------------------------------------- broadcasts


@team_required("broadcasts.manage")
def broadcasts(request):
    items = Broadcast.objects.for_team(request.team).select_related("channel", "pack")
    status = request.GET.get("status", "")
    if status in BroadcastStatus.values:
        items = items.filter(status=status)
    page = Paginator(items, 25).get_page(request.GET.get("page"))
    context = {"section": "broadcasts", "page": page, "status": status, "statuses": BroadcastStatus.choices}
    context["csv_channels"] = Channel.objects.for_team(request.team).active().filter(kind__in=BROADCAST_CHANNEL_KINDS)
    return render(request, "audiences/broadcast_list.html", context)


@require_POST
@team_required("broadcasts.manage")
def broadcast_csv(request):
    """CSV 推播: upload the contacts (first column: the channel's contact id); they are imported (new ones get source
    匯入名單) and a draft broadcast to exactly them opens, to pick its content and send."""
    channel = Channel.objects.for_team(request.team).filter(pk=parse_id(request.POST.get("channel"))).first()
    upload = request.FILES.get("file")
    if channel is None or upload is None:
        messages.error(request, _("請選擇渠道並上傳 CSV。"))
        return redirect("audiences:broadcasts")
    try:
        broadcast, _job = services.csv_broadcast(
            team=request.team,
            name=request.POST.get("name") or upload.name,
            channel=channel,
            upload=upload,
            user=request.user,
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("audiences:broadcasts")
    messages.success(request, _("已匯入 CSV 名單並建立推播草稿。"))
    return redirect("audiences:broadcast-edit", pk=broadcast.pk)


def _content_choices(team):
    modules = ChatbotModule.objects.for_team(team).filter(deleted_at__isnull=True)
    templates = WhatsAppTemplate.objects.for_team(team).filter(deleted_at__isnull=True)
    return modules, templates


# services / messaging error keys → the editor field the message is shown beside (never a raw key).
_ERROR_FIELDS = {
    "content": "content_type",
    "content.type": "content_type",
    "content.module_id": "module_id",
    "content.template_id": "template_id",
    "content.parameters": "parameters",
    "content.data": "wechat_data",
    "content.url": "wechat_url",
    "custom_conditions": "conditions",
}
_WECHAT_ERROR_FIELDS = {**_ERROR_FIELDS, "content.template_id": "wechat_template_id"}
_EDITOR_FIELDS = {"name", "channel", "content_type", "module_id", "template_id", "parameters", "pack", "scheduled_at"}
_EDITOR_FIELDS |= {"wechat_template_id", "wechat_data", "wechat_url"}


def _editor_errors(errors, content_type=""):
    """{editor field: message}; anything not beside a field goes under "form" (shown above the form)."""
    fields = _WECHAT_ERROR_FIELDS if content_type == "wechat_template" else _ERROR_FIELDS
    shown = {}
    for key, message in errors.items():
        field = fields.get(key, key)
        if field.startswith(("conditions", "custom_conditions")):
            field = "conditions"
        elif field not in _EDITOR_FIELDS:
            field = "form"
        shown.setdefault(field, message)
    return shown


def _broadcast_values(request, broadcast):
    """What the editor shows: after a refused save exactly what was typed (nothing is lost), else what is stored."""
    content = (broadcast.content if broadcast else None) or {}
    wechat = content if content.get("type") == "wechat_template" else {}
    stored = {
        "name": broadcast.name if broadcast else "",
        "channel": broadcast.channel_id if broadcast else None,
        "content_type": content.get("type") or "module",
        "module_id": content.get("module_id"),
        "template_id": None if wechat else content.get("template_id"),
        "parameters": "\n".join(content.get("parameters") or []),
        "wechat_template_id": wechat.get("template_id", ""),
        "wechat_data": wechat_data_text(wechat.get("data")),
        "wechat_url": wechat.get("url", ""),
        "pack": (broadcast.pack_id if broadcast else None) or parse_id(request.GET.get("pack")),
        "scheduled_at": "",
    }
    if request.method != "POST":
        return stored
    posted = request.POST
    return {
        "name": posted.get("name", stored["name"]),
        "channel": parse_id(posted.get("channel")) or stored["channel"],
        "content_type": posted.get("content_type") or stored["content_type"],
        "module_id": parse_id(posted.get("module_id")),
        "template_id": parse_id(posted.get("template_id")),
        "parameters": posted.get("parameters", ""),
        "wechat_template_id": posted.get("wechat_template_id", ""),
        "wechat_data": posted.get("wechat_data", ""),
        "wechat_url": posted.get("wechat_url", ""),
        "pack": parse_id(posted.get("pack")),
        "scheduled_at": posted.get("scheduled_at", ""),
    }


@team_required("broadcasts.manage")
def broadcast_edit(request, pk=None):
    """Create or edit a broadcast; what can be changed follows the status (seed 004's edit matrix)."""
    broadcast = get_object_or_404(Broadcast.objects.for_team(request.team), pk=pk) if pk else None
    errors = {}
    if request.method == "POST":
        try:
            broadcast = _save_broadcast(request, broadcast)
            if broadcast.status == BroadcastStatus.DRAFT:
                messages.success(request, _("推播草稿已儲存。"))
            return redirect("audiences:broadcast", pk=broadcast.pk)
        except services.AudienceError as exc:
            errors = {exc.field: exc.message}
        except BroadcastFormError as exc:
            errors = exc.errors
    values = _broadcast_values(request, broadcast)
    packs = _broadcast_packs(request.team)
    modules, templates = _content_choices(request.team)
    tree = broadcast.custom_conditions if broadcast and broadcast.custom_conditions is not None else None
    if request.method == "POST" and request.POST.get("custom") == "1":
        tree = builder.tree_from_form(request.POST) or tree
    context = _builder_context(
        request.team,
        tree or builder.DEFAULT_TREE,
        section="broadcasts",
        broadcast=broadcast,
        errors=_editor_errors(errors, values["content_type"]),
        values=values,
        content_type_kinds=CONTENT_TYPE_KINDS,
        packs=packs,
        modules=modules,
        templates=templates,
        initial_pack=values["pack"],
        channels=_channels(request.team, BROADCAST_CHANNEL_KINDS),
        uses_custom=tree is not None,
    )
    return render(request, "audiences/broadcast_edit.html", context, status=400 if errors else 200)


@require_GET
@team_required("broadcasts.manage")
def broadcast_content_preview(request):
    """HTMX: the chosen module or template as the customer's phone would show it."""
    return render(request, "audiences/partials/content_preview.html", _content_preview(request.team, request.GET))


def _content_preview(team, data):
    """The phone preview's context from the editor's fields (GET) or a stored content dict."""
    modules, templates = _content_choices(team)
    if data.get("content_type") == "wechat_template" or data.get("type") == "wechat_template":
        if "content_type" in data:  # the editor's fields
            fields = wechat_data_from_text(data.get("wechat_data"))
            return {"wechat": {"template_id": data.get("wechat_template_id", ""), "data": fields}}
        return {"wechat": data}
    if data.get("content_type") == "whatsapp_template" or data.get("type") == "whatsapp_template":
        template = templates.filter(pk=parse_id(data.get("template_id"))).first()
        parameters = data.get("parameters") or []
        if isinstance(parameters, str):
            parameters = [p.strip() for p in parameters.split("\n") if p.strip()]
        body = template.body if template else ""
        for number, value in enumerate(parameters, 1):
            body = body.replace(f"{{{{{number}}}}}", value)
        return {"template": template, "template_body": body}
    return {"module": modules.filter(pk=parse_id(data.get("module_id"))).first()}


@require_POST
@team_required("broadcasts.manage")
def broadcast_confirm(request):
    """HTMX: 「立即發送」 asks first — recipients now, the channel and the estimated cost, from the form as typed."""
    form = BroadcastForm(request.POST, team=request.team)
    context = {}
    if not form.is_valid():
        context["errors"] = _editor_errors(form.error_dict(), request.POST.get("content_type", "")).values()
        return render(request, "audiences/partials/send_confirm.html", context, status=400)
    channel = form.channel_object()
    pack = form.pack_object()
    tree = builder.tree_from_form(request.POST) if request.POST.get("custom") == "1" else None
    if tree is None and pack is not None:
        tree = pack.conditions
    if channel is None:
        context["errors"] = [_("請選擇渠道。")]
    elif tree is None:
        context["errors"] = [_("請先選擇受眾包。")]
    else:
        try:
            context["estimate"] = services.send_estimate(team=request.team, channel=channel, conditions=tree)
        except services.AudienceError as exc:
            context["errors"] = [exc.message]
    return render(request, "audiences/partials/send_confirm.html", context, status=400 if "errors" in context else 200)


def _broadcast_packs(team):
    return (
        AudiencePack.objects.for_team(team)
        .active()
        .filter(channel__kind__in=BROADCAST_CHANNEL_KINDS)
        .select_related("channel")
    )


@require_GET
@team_required("broadcasts.manage")
def broadcast_pack_options(request):
    """The pack picker's options, fresh each time it opens (a pack saved in another tab appears)."""
    context = {"packs": _broadcast_packs(request.team), "initial_pack": parse_id(request.GET.get("pack"))}
    return render(request, "audiences/broadcast_edit.html#pack-options", context)


def _save_broadcast(request, broadcast):
    """The editor's POST → one services.save_broadcast call (all or nothing). Raises BroadcastFormError."""
    form = BroadcastForm(request.POST, team=request.team)
    if not form.is_valid():
        raise BroadcastFormError(form.error_dict())
    data = form.cleaned_data
    editable = broadcast is None or broadcast.status == BroadcastStatus.DRAFT
    changes = {}
    if editable:
        changes["content"] = form.content()
        if broadcast is None or "name" in request.POST:
            changes["name"] = data["name"]
        pack = form.pack_object()
        if pack is not None:
            changes["pack"] = pack
    if broadcast is None:
        changes["channel"] = form.channel_object()
    if data["action"] == "apply_custom":
        changes["copy_pack_conditions"] = True
    elif data["custom"] == "1" and editable:
        tree = builder.tree_from_form(request.POST)
        if tree is None:
            changes["copy_pack_conditions"] = True
        else:
            changes["custom_conditions"] = tree
    then = data["action"] if data["action"] in ("schedule", "send_now") else "save"
    broadcast = services.save_broadcast(
        team=request.team, broadcast=broadcast, user=request.user, then=then, at=data.get("scheduled_at"), **changes
    )
    if then == "send_now":
        messages.success(request, _("推播開始發送。"))
    elif then == "schedule":
        messages.success(request, _("推播已排程，將於發送前 15 分鐘擷取受眾名單。"))
    return broadcast


class BroadcastFormError(Exception):
    def __init__(self, errors):
        super().__init__(errors)
        self.errors = errors


@team_required("broadcasts.manage")
@reads_from_replica
def broadcast_detail(request, pk):
    broadcast = get_object_or_404(Broadcast.objects.for_team(request.team).select_related("pack", "channel"), pk=pk)
    report = services.report(broadcast) if broadcast.status in (BroadcastStatus.SENDING, BroadcastStatus.SENT) else None
    context = {"section": "broadcasts", "broadcast": broadcast, "report": report}
    context.update(_content_preview(request.team, broadcast.content or {}))
    return render(request, "audiences/broadcast_detail.html", context)


@require_POST
@team_required("broadcasts.manage")
def broadcast_action(request, pk, verb):
    broadcast = get_object_or_404(Broadcast.objects.for_team(request.team), pk=pk)
    operations = {"cancel": services.cancel, "unschedule": services.unschedule, "send": services.send_now}
    try:
        operations[verb](broadcast)
        messages.success(request, _("已更新推播狀態。"))
    except services.AudienceError as exc:
        messages.error(request, exc.message)
    return redirect("audiences:broadcast", pk=pk)
