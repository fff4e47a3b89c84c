"""Console pages: channels (connect, webhook URL, verify token, test, disable), conversations with agent
replies, keyword auto-reply / auto-assign rules with trigger counts and QR codes, conversation CSV export."""

import secrets
from datetime import datetime, time, timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.decorators import team_required
from cdp import imports
from cdp import presenters as cdp_presenters
from cdp.models import Channel, Contact, ContactSource, Customer
from cdp.services import contacts as contact_services
from core.errors import ServiceError
from core.replica import reads_from_replica

from . import forms
from .models import (
    EDITABLE_MODULE_TYPES,
    ChannelState,
    ChatbotModule,
    CommentReply,
    CommentRule,
    KeywordRule,
    ModuleType,
    WhatsAppTemplate,
)
from .module_forms import ModuleForm
from .services import channels as channel_service
from .services import comments, conversations, friend_sync, keywords
from .services import sms as sms_service
from .services import templates as template_service


def _channels(request):
    return Channel.objects.for_team(request.team).filter(kind__in=[kind for kind, _label in forms.MESSAGING_KINDS])


@team_required("customers.view")
def index(request):
    form = forms.ChannelForm(request.POST or None, team=request.team)
    if request.method == "POST":
        if not request.membership.has_perm("channels.manage"):
            return HttpResponse(status=403)
        if form.is_valid():
            data = form.cleaned_data
            try:
                channel = channel_service.connect_channel(
                    team=request.team,
                    kind=data["kind"],
                    name=data["name"],
                    external_id=data["external_id"],
                    credentials=form.credentials(),
                    is_sandbox=data["is_sandbox"],
                )
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(request, _("已連結渠道，請將 Webhook URL 貼到平台設定。"))
                return redirect("messaging:channel", channel.pk)
    # Every channel of the team is listed; the messaging kinds link to their settings and carry a webhook URL.
    rows = Channel.objects.for_team(request.team).order_by("kind", "name")
    states = {s.channel_id: s for s in ChannelState.objects.for_team(request.team)}
    managed = {kind for kind, _label in forms.MESSAGING_KINDS}
    items = [
        {
            "channel": c,
            "state": states.get(c.pk),
            "webhook_url": channel_service.webhook_url(c),
            "managed": c.kind in managed,
        }
        for c in rows
    ]
    can_manage = request.membership.has_perm("channels.manage")
    context = {"section": "messaging", "subsection": "channels", "items": items, "form": form, "can_manage": can_manage}
    context["kinds"] = forms.MESSAGING_KINDS
    return render(request, "messaging/channels.html", context, status=400 if form.errors else 200)


@team_required("channels.manage")
def channel_detail(request, pk):
    channel = get_object_or_404(_channels(request), pk=pk)
    form = forms.CredentialsForm(request.POST or None, channel=channel)
    if request.method == "POST" and form.is_valid():
        try:
            channel_service.update_credentials(channel, form.credentials())
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, _("已更新憑證。"))
            return redirect("messaging:channel", channel.pk)
    context = {
        "section": "messaging",
        "subsection": "channels",
        "channel": channel,
        "state": ChannelState.objects.filter(channel=channel).first(),
        "webhook_url": channel_service.webhook_url(channel),
        "verify_token": (channel.credentials or {}).get("verify_token", ""),
        "stored": sorted(k for k, v in (channel.credentials or {}).items() if v and k != "verify_token"),
        "templates": WhatsAppTemplate.objects.for_team(request.team).filter(channel=channel, deleted_at__isnull=True),
        "form": form,
        "numbers_form": forms.ManualNumbersForm() if channel.kind == "whatsapp" else None,
        "history_form": forms.ChatHistoryForm() if channel.kind == "whatsapp" else None,
        "friend_sync": friend_sync.latest(channel) if channel.kind == "line" else None,
    }
    return render(request, "messaging/channel_detail.html", context)


@require_POST
@team_required("channels.manage")
def channel_manual_numbers(request, pk):
    """手動新增 (WhatsApp only): numbers typed or pasted, each normalised to E.164, source 手動新增."""
    channel = get_object_or_404(_channels(request).filter(kind="whatsapp"), pk=pk)
    form = forms.ManualNumbersForm(request.POST)
    if form.is_valid():
        try:
            created, existing = contact_services.add_whatsapp_numbers(
                channel=channel, numbers=contact_services.split_numbers(form.cleaned_data["numbers"])
            )
        except ValidationError as exc:
            form.add_error("numbers", exc.messages)
        else:
            messages.success(
                request,
                _("已新增 %(created)d 位聯絡人（%(existing)d 位已存在）。")
                % {"created": created, "existing": existing},
            )
            return redirect("messaging:channel", channel.pk)
    context = {
        "section": "messaging",
        "subsection": "channels",
        "channel": channel,
        "numbers_form": form,
        "history_form": forms.ChatHistoryForm(),
    }
    return render(request, "messaging/manual_numbers.html", context, status=400)


@require_POST
@team_required("channels.manage")
def channel_chat_history(request, pk):
    """Pixel (seed 000, 2): connecting WhatsApp imports its existing users from an exported chat history (CSV of
    number, name, last message time) through the import pipeline; new contacts get source Pixel."""
    channel = get_object_or_404(_channels(request).filter(kind="whatsapp"), pk=pk)
    form = forms.ChatHistoryForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("messaging:channel", channel.pk)
    job = imports.create_job(team=request.team, upload=form.cleaned_data["file"], channel=channel, user=request.user)
    try:
        mapping = imports.chat_history_mapping(job, source=ContactSource.PIXEL.value)
    except imports.ImportFileError as exc:
        job.delete()
        messages.error(request, str(exc))
        return redirect("messaging:channel", channel.pk)
    imports.start(job, mapping)
    return redirect("cdp:import-job", pk=job.pk)


@team_required("channels.manage")
def channel_friend_sync(request, pk):
    """LINE 好友同步: POST starts (or shows the running) job; GET is the progress bar HTMX polls."""
    channel = get_object_or_404(_channels(request).filter(kind="line"), pk=pk)
    if request.method == "POST":
        try:
            friend_sync.start(channel=channel, by=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect("messaging:channel", channel.pk)
    context = {"channel": channel, "friend_sync": friend_sync.latest(channel)}
    return render(request, "messaging/_friend_sync.html", context)


@require_POST
@team_required("channels.manage")
def channel_test(request, pk):
    channel = get_object_or_404(_channels(request), pk=pk)
    ok, message = channel_service.test_connection(channel)
    (messages.success if ok else messages.error)(request, _("連線測試：%(result)s") % {"result": message or "OK"})
    return redirect("messaging:channel", channel.pk)


@require_POST
@team_required("channels.manage")
def channel_toggle(request, pk):
    channel = get_object_or_404(_channels(request), pk=pk)
    channel_service.set_active(channel, not channel.is_active)
    return redirect("messaging:channel", channel.pk)


@require_POST
@team_required("channels.manage")
def channel_sync_templates(request, pk):
    channel = get_object_or_404(_channels(request).filter(kind="whatsapp"), pk=pk)
    try:
        count = template_service.sync(channel)
        messages.success(request, _("已同步 %(n)d 個範本。") % {"n": count})
    except ConnectionError as exc:
        messages.error(request, str(exc))
    return redirect("messaging:channel", channel.pk)


def _inbox_context(request, selected=None):
    """The list pane: search, channel / unread / assignee filters, and the rows (see conversations.inbox_rows)."""
    filter_form = forms.InboxFilterForm(request.GET or None, team=request.team)
    found = filter_form.filters() if request.GET else {}
    rows = conversations.inbox_rows(
        request.team,
        q=(found.get("q") or "").strip(),
        channel=found.get("channel"),
        unread=bool(found.get("unread")),
        assignee=found.get("assignee") or None,
        user=request.user,
    )
    query = request.GET.copy()
    for key in ("pane", "selected", "since"):
        query.pop(key, None)
    selected_id = selected.pk if selected else request.GET.get("selected", "")
    newest = conversations.newest_message_at(request.team)
    return {
        "filter_form": filter_form,
        "rows": rows,
        "selected_id": str(selected_id or ""),
        "filter_query": query.urlencode(),
        "since": newest.isoformat() if newest else "",
    }


def _parse_since(value):
    try:
        since = datetime.fromisoformat(value)
    except ValueError:
        return None
    return since if since.tzinfo else None


def _inbox_page(request, context):
    context.update(
        {
            "section": "messaging",
            "subsection": "conversations",
            "export_form": forms.ExportForm(
                initial={"start": timezone.localdate() - timedelta(days=30), "end": timezone.localdate()}
            ),
            "can_export": request.membership.has_perm("conversations.export"),
        }
    )
    return render(request, "messaging/inbox.html", context, status=context.pop("status", 200))


@team_required("conversations.view")
def conversation_list(request):
    """The inbox with no conversation open; `?pane=list` (htmx: filters and polling) answers the list pane only."""
    if request.htmx and request.GET.get("pane") == "list":
        since = _parse_since(request.GET.get("since", ""))
        if since is not None and not conversations.has_new_messages(request.team, since):
            return HttpResponse(status=204)  # a poll with nothing new: htmx keeps the list as it is
        return render(request, "messaging/inbox.html#inbox-list", _inbox_context(request))
    context = _inbox_context(request)
    return _inbox_page(request, context)


def _thread_context(request, contact, form=None, assign_form=None):
    agents = conversations.team_agents(request.team)
    conversation = conversations.conversation_of(contact)
    customer = contact.customer
    return {
        "contact": contact,
        "conversation": conversation,
        "customer": customer,
        "tags": cdp_presenters.customer_tags(request.team, customer),
        "items": conversations.timeline(contact),
        "form": form or forms.ReplyForm(),
        "assign_form": assign_form
        or forms.AssignForm(initial={"assignee": conversation.assignee_id or ""}, agents=agents),
        "assignments": conversations.assignment_history(contact),
        "assignee_label": conversations.agent_label(conversation.assignee),
        "can_reply": request.membership.has_perm("conversations.reply"),
        "reply_refusal": conversations.reply_refusal(contact),
        "can_sms": request.membership.has_perm("sms.send"),
        # 對話下單 (commerce): staff create an order for this contact from here, on LINE and WhatsApp.
        "can_order": contact.channel.kind in ("line", "whatsapp") and request.membership.has_perm("orders.manage"),
    }


def _contact_of(request, contact_id):
    return get_object_or_404(
        Contact.objects.for_team(request.team).select_related("channel", "customer"), pk=contact_id
    )


@team_required("conversations.view")
def conversation(request, contact_id):
    """The inbox with one conversation open. Viewing it (and its htmx polling) marks it read."""
    contact = _contact_of(request, contact_id)
    form = forms.ReplyForm(request.POST or None)
    if request.method == "POST":
        if not request.membership.has_perm("conversations.reply"):
            return HttpResponse(status=403)
        if form.is_valid():
            try:
                conversations.agent_reply(contact=contact, text=form.cleaned_data["text"], user=request.user)
            except ServiceError as exc:
                form.add_error(None, exc)
            else:
                url = reverse("messaging:conversation", args=[contact.pk])
                query = request.GET.urlencode()
                return redirect(f"{url}?{query}" if query else url)
    conversations.mark_read(contact)
    if request.htmx and request.method == "GET":
        items = conversations.timeline(contact)
        return render(request, "messaging/inbox.html#timeline", {"contact": contact, "items": items})
    context = _inbox_context(request, selected=contact)
    context.update(_thread_context(request, contact, form=form))
    context["status"] = 400 if form.errors else 200
    return _inbox_page(request, context)


@require_POST
@team_required("conversations.reply")
def conversation_assign(request, contact_id):
    """Assign the conversation to an agent (or nobody); recorded with who assigned it and when."""
    contact = _contact_of(request, contact_id)
    form = forms.AssignForm(request.POST, agents=conversations.team_agents(request.team))
    status = 200
    if form.is_valid():
        try:
            conversations.assign(contact, form.chosen(), by=request.user)
        except ServiceError as exc:
            form.add_error("assignee", exc.messages[0])
    if form.errors:
        status = 400
    elif not request.htmx:
        messages.success(request, _("已更新負責人。"))
        return redirect("messaging:conversation", contact.pk)
    context = _thread_context(request, contact, assign_form=form if form.errors else None)
    return render(request, "messaging/inbox.html#assign", context, status=status)


@team_required("conversations.export")
@reads_from_replica
def conversation_export(request):
    form = forms.ExportForm(request.GET)
    if not form.is_valid():
        return HttpResponse(
            "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()), status=400, content_type="text/plain"
        )
    zone = request.team.zone
    start = datetime.combine(form.cleaned_data["start"], time(0), tzinfo=zone)
    end = datetime.combine(form.cleaned_data["end"] + timedelta(days=1), time(0), tzinfo=zone)
    response = StreamingHttpResponse(conversations.export_rows(request.team, start, end), content_type="text/csv")
    name = f"conversations-{form.cleaned_data['start']}-{form.cleaned_data['end']}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@team_required("autoreply.manage")
def keyword_list(request):
    form = forms.KeywordRuleForm(request.POST or None, team=request.team)
    if request.method == "POST" and form.is_valid():
        rule = keywords.save_rule(form, request.team)
        messages.success(request, _("已建立規則。"))
        return redirect("messaging:keyword", rule.pk)
    context = {
        "section": "messaging",
        "subsection": "keywords",
        "rules": keywords.rules_for_team(request.team),
        "form": form,
    }
    return render(request, "messaging/keywords.html", context, status=400 if form.errors else 200)


@team_required("autoreply.manage")
def keyword_detail(request, pk):
    rule = get_object_or_404(keywords.rules_for_team(request.team), pk=pk)
    form = forms.KeywordRuleForm(request.POST or None, instance=rule, team=request.team)
    if request.method == "POST" and form.is_valid():
        keywords.save_rule(form, request.team)
        messages.success(request, _("已儲存規則。"))
        return redirect("messaging:keyword", rule.pk)
    link = keywords.join_link(rule)
    joins = Contact.objects.for_team(request.team).filter(source="keyword", source_detail=f"rule:{rule.pk}").count()
    context = {
        "section": "messaging",
        "subsection": "keywords",
        "rule": rule,
        "form": form,
        "link": link,
        "joins": joins,
        "qr": keywords.qr_svg(link) if link else "",
    }
    return render(request, "messaging/keyword_detail.html", context, status=400 if form.errors else 200)


@require_POST
@team_required("autoreply.manage")
def keyword_delete(request, pk):
    rule = get_object_or_404(KeywordRule.objects.for_team(request.team), pk=pk)
    rule.delete()
    return redirect("messaging:keywords")


@require_POST
@team_required("autoreply.manage")
def keyword_wechat_qr(request, pk):
    """WeChat: make the rule's permanent QR code through WeChat's API (once; the URL is kept on the rule)."""
    rule = get_object_or_404(keywords.rules_for_team(request.team), pk=pk)
    try:
        keywords.make_wechat_qr(rule)
        messages.success(request, _("已產生 WeChat QR Code。"))
    except ConnectionError as exc:
        messages.error(request, str(exc))
    return redirect("messaging:keyword", rule.pk)


# ------------------------------------------------------------------------------------- comment rules
@team_required("autoreply.manage")
def comment_rule_list(request):
    form = forms.CommentRuleForm(request.POST or None, team=request.team)
    if request.method == "POST" and form.is_valid():
        rule = comments.save_rule(form, request.team)
        messages.success(request, _("已建立規則。"))
        return redirect("messaging:comment-rule", rule.pk)
    context = {
        "section": "messaging",
        "subsection": "comment-rules",
        "rules": comments.rules_for_team(request.team),
        "form": form,
    }
    return render(request, "messaging/comment_rules.html", context, status=400 if form.errors else 200)


@team_required("autoreply.manage")
def comment_rule_detail(request, pk):
    rule = get_object_or_404(comments.rules_for_team(request.team), pk=pk)
    form = forms.CommentRuleForm(request.POST or None, instance=rule, team=request.team)
    if request.method == "POST" and form.is_valid():
        comments.save_rule(form, request.team)
        messages.success(request, _("已儲存規則。"))
        return redirect("messaging:comment-rule", rule.pk)
    replies = CommentReply.objects.for_team(request.team).filter(rule=rule)
    context = {
        "section": "messaging",
        "subsection": "comment-rules",
        "rule": rule,
        "form": form,
        "sent": replies.filter(status="sent").count(),
        "failed": replies.filter(status="failed").count(),
        "joins": comments.joins(rule),
        "recent": replies.order_by("-created_at")[:20],
    }
    return render(request, "messaging/comment_rule_detail.html", context, status=400 if form.errors else 200)


@require_POST
@team_required("autoreply.manage")
def comment_rule_delete(request, pk):
    rule = get_object_or_404(CommentRule.objects.for_team(request.team), pk=pk)
    rule.delete()
    return redirect("messaging:comment-rules")


# ------------------------------------------------------------------------------------- chatbot modules
MODULE_PERMISSION = "journeys.manage"  # as the chatbot-modules API


@team_required(MODULE_PERMISSION)
def module_list(request):
    modules = ChatbotModule.objects.for_team(request.team).alive()
    types = [(t, ModuleType(t).label) for t in EDITABLE_MODULE_TYPES]
    context = {"section": "messaging", "subsection": "modules", "modules": modules, "types": types}
    return render(request, "messaging/modules.html", context)


def _module_form_page(request, module_type, module=None):
    form = ModuleForm(
        request.POST or None,
        module_type=module_type,
        content=module.content if module else None,
        initial={"name": module.name} if module else None,
    )
    if request.method == "POST" and form.is_valid():
        module = module or ChatbotModule(team=request.team, type=module_type)
        module.name, module.content = form.cleaned_data["name"], form.content()
        module.save()
        messages.success(request, _("已儲存機器人模組。"))
        return redirect("messaging:module", module.pk)
    context = {
        "section": "messaging",
        "subsection": "modules",
        "form": form,
        "module": module,
        "module_type": module_type,
        "type_label": ModuleType(module_type).label,
    }
    return render(request, "messaging/module_form.html", context, status=400 if form.errors else 200)


@team_required(MODULE_PERMISSION)
def module_new(request, module_type):
    if module_type not in EDITABLE_MODULE_TYPES:
        raise Http404
    return _module_form_page(request, module_type)


@team_required(MODULE_PERMISSION)
def module_edit(request, pk):
    module = get_object_or_404(ChatbotModule.objects.for_team(request.team).alive(), pk=pk)
    if module.type == ModuleType.OMNILINK_CARD:  # edited with its campaign (a URL name: omnilink is above us)
        return redirect("omnilink:campaign-edit", module.content.get("campaign_id"))
    return _module_form_page(request, module.type, module)


@team_required(MODULE_PERMISSION)
def module_delete(request, pk):
    module = get_object_or_404(ChatbotModule.objects.for_team(request.team).alive(), pk=pk)
    if request.method == "POST":
        template_service.delete_module(module)
        messages.success(request, _("已刪除機器人模組「%(name)s」。") % {"name": module.name})
        return redirect("messaging:modules")
    return render(
        request, "messaging/module_delete.html", {"section": "messaging", "subsection": "modules", "module": module}
    )


# --- 「LINE 通知快捷發送簡訊」 --------------------------------------------------------------------------------


def _sms_contact_of(customer):
    """The contact a quick SMS from the customer 360° page is recorded under: LINE first (the seed's feature), then
    the customer's oldest contact."""
    contacts = list(customer.contacts.select_related("channel", "customer").order_by("id"))
    return next((c for c in contacts if c.channel.kind == "line"), contacts[0] if contacts else None)


def _quick_sms_card(request, contact, *, form=None, sent=None, error=""):
    form = form or forms.QuickSmsForm()
    text = form.data.get("text", "") if form.is_bound else ""
    context = {
        "contact": contact,
        "form": form,
        "phone": sms_service.contact_phone(contact) if contact else "",
        "quote": sms_service.quote(request.team, text) if contact else None,
        "sent": sent,
        "error": error,
        "post_url": request.path,
        "idempotency_key": secrets.token_hex(12),  # one per card: a double click sends and debits once
    }
    return render(request, "messaging/_quick_sms.html", context)


def _quick_sms(request, contact):
    if request.method != "POST" or contact is None:
        return _quick_sms_card(request, contact)
    form = forms.QuickSmsForm(request.POST)
    if request.POST.get("action") != "send" or not form.is_valid():
        return _quick_sms_card(request, contact, form=form)  # the price of what is typed so far
    try:
        message, _created = sms_service.quick_send(
            team=request.team,
            contact=contact,
            text=form.cleaned_data["text"],
            actor=f"user:{request.user.email or request.user.pk}",
            idempotency_key=request.POST.get("idempotency_key", ""),
        )
    except ValidationError as exc:
        return _quick_sms_card(request, contact, form=form, error=" ".join(exc.messages))
    except sms_service.SmsRefused as exc:
        return _quick_sms_card(request, contact, form=form, error=exc.message)
    message.refresh_from_db()
    return _quick_sms_card(request, contact, sent=message)


@team_required("sms.send")
def quick_sms(request, contact_id):
    """The quick SMS card of a conversation (HTMX): the price before sending, the result after."""
    contact = get_object_or_404(
        Contact.objects.for_team(request.team).select_related("channel", "customer"), pk=contact_id
    )
    return _quick_sms(request, contact)


@team_required("sms.send")
def quick_sms_customer(request, customer_id):
    """The same card on the customer 360° page, recorded under the customer's LINE contact."""
    customer = get_object_or_404(Customer.objects.for_team(request.team).active(), pk=customer_id)
    return _quick_sms(request, _sms_contact_of(customer))
