"""The customer console: list, 360° page, tags and attributes, CSV import and export.

Views parse the request, check the role, call cdp's services and render (a partial when HTMX asks).
Every object is looked up through for_team(request.team): another team's id is a 404.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from accounts import handoff
from accounts.decorators import team_required
from accounts.templatetags.console import thousands
from core.params import parse_id, parse_signed
from core.replica import reads_from_replica

from . import exports, imports, presenters, quota
from .filters import CustomerFilter, count_up_to, keyset_page
from .forms import (
    AttributeForm,
    AttributeLabelForm,
    AttributeTypeForm,
    ExportForm,
    ImportUploadForm,
    OmoAddCustomerForm,
    OmoMemberForm,
    TagForm,
    mapping_form_for,
)
from .models import (
    Contact,
    CustomAttribute,
    Customer,
    ImportJob,
    MergeRecord,
    OmoAssignment,
    OmoMember,
    PointsSource,
    Tag,
    UnsubscribeScope,
)
from .services import contacts as contact_services
from .services import omo, points


@team_required("customers.view")
def index(request):
    team = request.team
    customer_filter = CustomerFilter(request.GET, team=team)
    customers = customer_filter.qs if customer_filter.is_valid() else Customer.objects.none()
    after = request.GET.get("after", "")
    rows, next_cursor = keyset_page(customers, after, sort=customer_filter.chosen_sort)
    total, exact = count_up_to(customers)
    # The cursors of the pages before this one ("," separated; "-" is the first page) give a previous page.
    trail = [c for c in request.GET.get("trail", "").split(",") if c]
    context = {
        "section": "customers",
        "filter": customer_filter,
        "rows": presenters.customer_rows(team, rows),
        "total": total,
        "total_exact": exact,
        "next_cursor": next_cursor,
        "next_trail": ",".join([*trail, after or "-"]),
        "previous_cursor": ("" if trail[-1] == "-" else trail[-1]) if trail else None,
        "previous_trail": ",".join(trail[:-1]),
        "after": after,
        "query_string": _query_without(request, "after", "trail"),
        # The rows' check boxes are for the bulk actions the role may run.
        "can_export": request.membership.has_perm("customers.export"),
        "can_edit": request.membership.has_perm("customers.edit"),
    }
    if request.htmx and not request.htmx.boosted:
        return render(request, "cdp/customer_list.html#results", context)
    context["can_import"] = request.membership.has_perm("customers.import")
    context["export_form"] = ExportForm(team=team)
    context["tag_names"] = Tag.objects.for_team(team).filter(archived_at__isnull=True).values_list("name", flat=True)
    return render(request, "cdp/customer_list.html", context)


MAX_SELECTED = 500


def chosen_customers(team, data):
    """The customers a bulk action or an export applies to: scope=selected, the checked `ids` (this team's active
    customers, whatever the filter); otherwise every customer matching the list's filters. Raises ValidationError
    with words for the marketer; an id of another team is an error, never a silent no-op."""
    customer_filter = CustomerFilter(data, team=team)
    if not customer_filter.is_valid():
        raise ValidationError(_("篩選條件有誤：%(errors)s") % {"errors": customer_filter.errors.as_text()})
    if data.get("scope", "filter") == "filter":
        return customer_filter.qs
    if data.get("scope") != "selected":
        raise ValidationError(_("請選擇套用範圍。"))
    raw = data.getlist("ids") if hasattr(data, "getlist") else data.get("ids", [])
    ids = {parse_id(value) for value in raw}
    if not ids:
        raise ValidationError(_("請先勾選顧客。"))
    if None in ids or len(ids) > MAX_SELECTED:
        raise ValidationError(_("選取的顧客有誤（最多 %(n)s 位）。") % {"n": MAX_SELECTED})
    customers = Customer.objects.for_team(team).active().filter(pk__in=ids)
    if customers.count() != len(ids):
        raise ValidationError(_("找不到部分選取的顧客（可能已被合併），請重新整理頁面後再試。"))
    return customers


BULK_ACTIONS = {"add_tag", "remove_tag"}
# "All matching" beyond this many customers runs in the background (a "bulk_tags" hand-off row, cdp.tasks.on_bulk_tags),
# not in the request.
BULK_IN_REQUEST = 10000


@require_POST
@team_required("customers.edit")
def bulk(request):
    """Add or remove a tag on the checked customers or on every customer matching the filter (issue 20.16).
    Answers with a message; HX-Trigger "customers-changed" makes the list reload."""
    from .services import tags as tag_services

    action = request.POST.get("action", "")
    name = request.POST.get("tag_name", "").strip()
    try:
        if action not in BULK_ACTIONS:
            raise ValidationError(_("請選擇批次動作。"))
        if not name:
            raise ValidationError(_("請輸入標籤名稱。"))
        customers = chosen_customers(request.team, request.POST)
        if request.POST.get("scope", "filter") == "filter" and not count_up_to(customers, BULK_IN_REQUEST)[1]:
            # A bad name is refused now, not in the task: an archived or too long tag is a 400 here.
            if action == "add_tag":
                tag_services.get_or_create_tags(request.team, [name])
            else:
                tag_services.clean_names([name])
            filter_data = {key: request.POST.getlist(key) for key in CustomerFilter.base_filters if key in request.POST}
            handoff.add(
                request.team.pk, "bulk_tags", [{"kind": action, "payload": {"name": name, "filters": filter_data}}]
            )
            done = _("超過 %(n)s 位顧客，已在背景處理；完成後標籤會出現在名單上。") % {"n": thousands(BULK_IN_REQUEST)}
        elif action == "add_tag":
            n = tag_services.add_tags_bulk(team=request.team, customer_ids=customers, names=[name], source="console")
            done = _("已為 %(n)s 位顧客新增標籤「%(tag)s」。") % {"n": thousands(n), "tag": name}
        else:
            n = tag_services.remove_tags_bulk(team=request.team, customer_ids=customers, names=[name], source="console")
            done = _("已為 %(n)s 位顧客移除標籤「%(tag)s」。") % {"n": thousands(n), "tag": name}
    except ValidationError as exc:
        return render(request, "cdp/customer_list.html#bulk-result", {"error": " ".join(exc.messages)}, status=400)
    response = render(request, "cdp/customer_list.html#bulk-result", {"done": done})
    return trigger_client_event(response, "customers-changed")


@require_GET
@team_required("customers.view")
def quota_bar(request):
    """The quota bar, loaded after the page: counting a million contacts should not delay the list."""
    return render(request, "cdp/customer_list.html#quota", {"usage": quota.usage(request.team)})


def _query_without(request, *keys):
    params = request.GET.copy()
    for key in keys:
        params.pop(key, None)
    return params.urlencode()


@team_required("customers.view")
def customer_detail(request, pk):
    customer = get_object_or_404(Customer.objects.for_team(request.team), pk=pk)
    if customer.merged_into_id:
        messages.info(request, _("這位顧客已合併到另一位顧客。"))
        return redirect("cdp:customer", pk=customer.merged_into_id)
    context = presenters.customer_360(request.team, customer)
    context.update(section="customers", perms=_perms(request), can_sms=request.membership.has_perm("sms.send"))
    context["omo_members"] = _omo_members(request)
    return render(request, "cdp/customer_detail.html", context)


def _omo_members(request):
    return list(omo.members_for_team(request.team).filter(is_active=True))


def _perms(request):
    return {p: request.membership.has_perm(f"customers.{p}") for p in ("edit", "merge", "export", "import")}


@require_GET
@team_required("customers.view")
def customer_timeline(request, pk):
    customer = get_object_or_404(Customer.objects.for_team(request.team).active(), pk=pk)
    events, next_cursor = presenters.timeline_page(request.team, customer, request.GET.get("after"))
    context = {"customer": customer, "events": events, "timeline_next": next_cursor}
    return render(request, "cdp/customer_detail.html#timeline-rows", context)


@require_POST
@team_required("customers.edit")
def customer_tags(request, pk):
    """Add (name=...) or remove (remove=<tag name>) a tag; returns the tags card."""
    from .services import tags as tag_services

    customer = get_object_or_404(Customer.objects.for_team(request.team).active(), pk=pk)
    error = ""
    remove = request.POST.get("remove", "").strip()
    name = request.POST.get("name", "").strip()
    try:
        if remove:
            tag_services.remove_tags(customer=customer, names=[remove], source="console")
        elif name:
            tag_services.add_tags(customer=customer, names=[name], source="console")
        else:
            error = _("請輸入標籤名稱。")
    except ValidationError as exc:
        error = " ".join(exc.messages)
    context = {"customer": customer, "tags": presenters.customer_tags(request.team, customer), "tag_error": error}
    context["perms"] = _perms(request)
    return render(request, "cdp/customer_detail.html#tags-card", context, status=400 if error else 200)


@require_POST
@team_required("customers.edit")
def customer_points(request, pk):
    """Add or deduct points by hand (ledger source 後台調整); returns the points card."""
    customer = get_object_or_404(Customer.objects.for_team(request.team).active(), pk=pk)
    error = ""
    delta = parse_signed(request.POST.get("delta", ""))
    if delta is None:
        error = _("請輸入非零的整數點數，例如 100 或 -50。")
    else:
        try:
            points.adjust_points(
                customer=customer,
                delta=delta,
                reason=request.POST.get("reason", "").strip(),
                source=PointsSource.ADMIN,
                idempotency_key=request.POST.get("idempotency_key", ""),
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
    customer.refresh_from_db()
    context = {"customer": customer, "points_error": error, "perms": _perms(request)}
    context.update(presenters.points_card(request.team, customer))
    return render(request, "cdp/customer_detail.html#points-card", context, status=400 if error else 200)


@require_POST
@team_required("customers.edit")
def contact_unsubscribe(request, pk):
    contact = get_object_or_404(Contact.objects.for_team(request.team).select_related("channel"), pk=pk)
    scope = request.POST.get("scope", "")
    if scope not in UnsubscribeScope.values:
        return HttpResponse(_("未知的取消訂閱範圍：%(scope)s") % {"scope": scope}, status=400)
    unsubscribed = request.POST.get("unsubscribed", "1") == "1"
    contact, _changed = contact_services.set_unsubscribed(contact, scope=scope, unsubscribed=unsubscribed)
    context = {
        "card": presenters.contact_card(request.team, contact),
        "perms": _perms(request),
        "omo_members": _omo_members(request),
    }
    return render(request, "cdp/customer_detail.html#contact-card", context)


@require_POST
@team_required("customers.merge")
def unmerge(request, pk):
    from .services import identity

    record = get_object_or_404(MergeRecord.objects.for_team(request.team), pk=pk)
    if record.unmerged_at:
        messages.info(request, _("這筆合併已經取消過了。"))
        return redirect("cdp:customer", pk=record.survivor_id)
    try:
        survivor, restored = identity.unmerge(merge_record=record, actor=request.user.get_username())
    except identity.UnmergeError as exc:
        messages.error(request, str(exc))
        return redirect("cdp:customer", pk=record.survivor_id)
    messages.success(request, _("已取消合併，顧客 %(name)s 已還原。") % {"name": restored})
    return redirect("cdp:customer", pk=survivor.pk)


# Tags and custom attributes -------------------------------------------------------------------------------


@team_required("customers.view")
def tag_list(request):
    return _tag_page(request)


def _tag_page(request, form=None, rename_form=None, status=200):
    """The tags page; a failed rename shows on its own row (rename_form), the create box stays empty."""
    context = {
        "section": "customers",
        "tags": presenters.tag_rows(request.team),
        "form": form or TagForm(team=request.team),
        "rename_form": rename_form,
        "perms": _perms(request),
    }
    return render(request, "cdp/tags.html", context, status=status)


@require_POST
@team_required("customers.edit")
def tag_save(request, pk=None):
    from .services import tags as tag_services

    tag = get_object_or_404(Tag.objects.for_team(request.team), pk=pk) if pk else None
    form = TagForm(request.POST, team=request.team, instance=tag)
    if form.is_valid():
        name = form.cleaned_data["name"]
        try:
            if tag:
                tag_services.rename_tag(tag, name)
                message = _("標籤已重新命名為「%(name)s」。")
            else:
                tag_services.create_tag(request.team, name)
                message = _("已新增標籤「%(name)s」。")
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, message % {"name": name})
            return redirect("cdp:tags")
    if tag:
        return _tag_page(request, rename_form=form, status=400)
    return _tag_page(request, form=form, status=400)


@require_POST
@team_required("customers.edit")
def tag_archive(request, pk):
    from .services import tags as tag_services

    tag_services.archive_tag(get_object_or_404(Tag.objects.for_team(request.team), pk=pk))
    messages.success(request, _("標籤已封存。"))
    return redirect("cdp:tags")


@team_required("customers.view")
def attribute_list(request):
    return _attribute_page(request)


def _attribute_page(request, form=None, status=200):
    context = {
        "section": "customers",
        "attributes": presenters.attribute_rows(request.team),
        "form": form or AttributeForm(team=request.team),
        "type_form": AttributeTypeForm(),
        "perms": _perms(request),
    }
    return render(request, "cdp/attributes.html", context, status=status)


@require_POST
@team_required("customers.edit")
def attribute_create(request):
    from .services import attributes

    form = AttributeForm(request.POST, team=request.team)
    if not form.is_valid():
        return _attribute_page(request, form=form, status=400)
    data = form.cleaned_data
    try:
        attributes.define_attribute(request.team, data["key"], data["label"], data["type"])
    except ValidationError as exc:
        form.add_error(None, exc)
        return _attribute_page(request, form=form, status=400)
    messages.success(request, _("已新增自訂屬性 %(key)s。") % {"key": data["key"]})
    return redirect("cdp:attributes")


@require_POST
@team_required("customers.edit")
def attribute_update(request, pk):
    """Rename the label, change the type (after the journeys warning) or archive one attribute."""
    from .services import attributes

    attribute = get_object_or_404(CustomAttribute.objects.for_team(request.team), pk=pk)
    action = request.POST.get("action")
    if action == "archive":
        attributes.archive_attribute(attribute)
        messages.success(request, _("自訂屬性 %(key)s 已封存。") % {"key": attribute.key})
    elif action == "type":
        form = AttributeTypeForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("請選擇新類型並確認警告。"))
        elif form.cleaned_data["type"] != attribute.type:
            attributes.change_attribute_type(attribute, form.cleaned_data["type"])
            messages.warning(
                request, _("%(key)s 的類型已變更；使用此屬性的顧客旅程將會停止。") % {"key": attribute.key}
            )
    elif action == "label":
        form = AttributeLabelForm(request.POST)
        if form.is_valid():
            attributes.rename_attribute(attribute, form.cleaned_data["label"])
            messages.success(request, _("顯示名稱已更新。"))
        else:
            messages.error(request, " ".join(form.errors.get("label", [])))
    else:
        raise Http404
    return redirect("cdp:attributes")


# CSV import ---------------------------------------------------------------------------------------------


@team_required("customers.import")
def import_start(request):
    form = ImportUploadForm(request.POST or None, request.FILES or None, team=request.team)
    if request.method == "POST" and form.is_valid():
        job = imports.create_job(
            team=request.team,
            upload=form.cleaned_data["file"],
            channel=form.cleaned_data["channel"],
            user=request.user,
            kind=form.cleaned_data["kind"],
        )
        return redirect("cdp:import-mapping", pk=job.pk)
    jobs = ImportJob.objects.for_team(request.team).select_related("channel")[:10]
    context = {"section": "customers", "form": form, "jobs": jobs}
    return render(request, "cdp/import_start.html", context, status=400 if form.errors else 200)


@team_required("customers.import")
def import_mapping(request, pk):
    job = get_object_or_404(ImportJob.objects.for_team(request.team).select_related("channel"), pk=pk)
    if job.status != "pending" or job.mapping:
        return redirect("cdp:import-job", pk=job.pk)
    try:
        preview = imports.preview(job)
    except imports.ImportFileError as exc:
        preview = imports.Preview(error=str(exc))
    form = mapping_form_for(job, preview, request.POST or None)
    if request.method == "POST" and form.is_valid():
        imports.start(job, form.mapping())
        return redirect("cdp:import-job", pk=job.pk)
    context = {"section": "customers", "job": job, "preview": preview, "form": form}
    return render(request, "cdp/import_mapping.html", context, status=400 if form.errors else 200)


@team_required("customers.import")
def import_job(request, pk):
    job = get_object_or_404(ImportJob.objects.for_team(request.team).select_related("channel"), pk=pk)
    context = {"section": "customers", "job": job, "percent": imports.percent(job)}
    if request.htmx:
        return render(request, "cdp/import_job.html#progress", context)
    return render(request, "cdp/import_job.html", context)


@team_required("customers.import")
def import_errors(request, pk):
    job = get_object_or_404(ImportJob.objects.for_team(request.team), pk=pk)
    response = StreamingHttpResponse(imports.error_report(job), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
    return response


# CSV export ---------------------------------------------------------------------------------------------


@require_GET
@team_required("customers.export")
@reads_from_replica
def export(request):
    """The filtered customers' contacts as CSV, or the checked ones (scope=selected&ids=...)."""
    try:
        customers = chosen_customers(request.team, request.GET)
    except ValidationError as exc:
        return HttpResponse(" ".join(exc.messages), status=400, content_type="text/plain; charset=utf-8")
    form = ExportForm(request.GET, team=request.team)
    fields = form.cleaned_data["fields"] if form.is_valid() else exports.DEFAULT_FIELDS
    rows = exports.export_csv(request.team, customers, fields)
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="contacts.csv"'
    return response


# ------------------------------------------------------------------------------------------- OMO 綁定


@team_required("customers.view")
def omo_index(request):
    """The team's staff and branch list with each one's QR codes and links, adding a customer by hand, and the
    record of bindings and transfers (手動移轉)."""
    can_edit = request.membership.has_perm("customers.edit")
    member_form = OmoMemberForm(request.POST or None) if request.POST.get("form") == "member" else OmoMemberForm()
    add_form = OmoAddCustomerForm(request.POST if request.POST.get("form") == "add" else None, team=request.team)
    if request.method == "POST":
        if not can_edit:
            return HttpResponse(status=403)
        try:
            if request.POST.get("form") == "member" and member_form.is_valid():
                omo.create_member(team=request.team, **member_form.cleaned_data)
                messages.success(request, _("已新增。"))
                return redirect("cdp:omo")
            if request.POST.get("form") == "add" and add_form.is_valid():
                data = add_form.cleaned_data
                result = omo.add_customer(
                    team=request.team,
                    channel=data["channel"],
                    external_id=data["external_id"],
                    member=data["member"],
                    display_name=data["display_name"],
                    by=request.user,
                )
                messages.success(request, _("已新增客戶並綁定。"))
                return redirect("cdp:customer", pk=result.contact.customer_id)
        except ValidationError as exc:
            (member_form if request.POST.get("form") == "member" else add_form).add_error(None, exc.messages)
    channels = omo.link_channels(request.team)
    members = []
    for member in omo.members_for_team(request.team):
        links = omo.member_links(member, channels)
        members.append({"member": member, "links": links, "qr": omo.qr_svg(links[0][1]) if links else ""})
    log = OmoAssignment.objects.for_team(request.team).select_related("member", "contact__channel", "by")[:30]
    context = {
        "section": "customers",
        "members": members,
        "member_form": member_form,
        "add_form": add_form,
        "log": log,
        "can_edit": can_edit,
        "code_example": "OMO-XXXXXX",
    }
    status = 400 if member_form.errors or add_form.errors else 200
    return render(request, "cdp/omo.html", context, status=status)


@require_POST
@team_required("customers.edit")
def contact_omo_transfer(request, pk):
    """手動移轉: bind one contact to another staff member or branch (recorded with who did it)."""
    contact = get_object_or_404(Contact.objects.for_team(request.team), pk=pk)
    member = OmoMember.objects.for_team(request.team).filter(pk=parse_id(request.POST.get("member"))).first()
    if member is None:
        messages.error(request, _("請選擇店員或分店。"))
    else:
        omo.transfer(team=request.team, contact_ids=[contact.pk], member=member, by=request.user)
        messages.success(request, _("已移轉至 %(name)s。") % {"name": member.name})
    return redirect("cdp:customer", pk=contact.customer_id)
