"""The conversation with one contact (messages in and out), the inbox (list, unread state, assignment), agent
replies and the CSV export (seed 004)."""

import re
import uuid
from itertools import chain

from django.db import transaction
from django.db.models import F, Max, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Membership
from cdp.models import Contact
from cdp.presenters import CHANNEL_SHORT
from core.csv_lines import BOM, CsvLines
from core.errors import ServiceError

from .. import policy
from ..models import (
    ChatbotModule,
    Conversation,
    ConversationAssignment,
    InboundMessage,
    Origin,
    OutboundMessage,
    OutboundStatus,
    WhatsAppTemplate,
)
from . import outbox

# What a customer's non-text message is called in the inbox (stored kinds are platform codes, never shown raw).
INBOUND_KIND_LABELS = {
    "image": _("圖片"),
    "sticker": _("貼圖"),
    "video": _("影片"),
    "audio": _("語音訊息"),
    "location": _("位置"),
    "file": _("檔案"),
    "document": _("檔案"),
    "attachment": _("附件"),
    "postback": _("點擊了按鈕"),
    "button": _("點擊了按鈕"),
    "interactive": _("點擊了按鈕"),
    "reaction": _("表情回應"),
    "contacts": _("聯絡人名片"),
}

# The status ticks of an outgoing bubble: (symbol, css class).
STATUS_TICKS = {
    OutboundStatus.QUEUED: ("○", "tick-wait"),
    OutboundStatus.SENDING: ("○", "tick-wait"),
    OutboundStatus.SENT: ("✓", "tick-sent"),
    OutboundStatus.DELIVERED: ("✓✓", "tick-delivered"),
    OutboundStatus.READ: ("✓✓", "tick-read"),
    OutboundStatus.FAILED: ("!", "tick-failed"),
}


def _inbound_item(m):
    kind = m.kind or "text"
    return {
        "direction": "in",
        "at": m.occurred_at,
        "type": "text" if kind == "text" else kind,
        "text": m.text if kind in ("text", "postback", "button", "interactive") else "",
        "kind_label": "" if kind == "text" else INBOUND_KIND_LABELS.get(kind, _("其他訊息")),
        "status": "",
    }


def _modules_of(messages):
    ids = {(m.content or {}).get("module_id") for m in messages if (m.content or {}).get("type") == "module"}
    ids.discard(None)
    if not ids:
        return {}
    team_id = messages[0].team_id
    return {m.pk: m for m in ChatbotModule.objects.filter(team_id=team_id, pk__in=ids)}


def _templates_of(messages):
    ids = {
        (m.content or {}).get("template_id") for m in messages if (m.content or {}).get("type") == "whatsapp_template"
    }
    ids.discard(None)
    if not ids:
        return {}
    team_id = messages[0].team_id
    return {t.pk: t for t in WhatsAppTemplate.objects.filter(team_id=team_id, pk__in=ids)}


def _template_text(body, parameters):
    """A WhatsApp template's body as the customer read it: {{1}}, {{2}}, ... replaced by the parameters sent."""
    return re.sub(
        r"\{\{(\d+)\}\}",
        lambda match: str(parameters[int(match.group(1)) - 1]) if 0 < int(match.group(1)) <= len(parameters) else "…",
        body or "",
    )


def _outbound_item(m, modules, templates):
    content = m.content or {}
    kind = content.get("type", "text")
    symbol, tick_class = STATUS_TICKS.get(m.status, ("", ""))
    item = {
        "direction": "out",
        "at": m.sent_at or m.created_at,
        "type": kind,
        "text": content.get("text", "") if kind in ("text", "sms") else "",
        "module": modules.get(content.get("module_id")),
        "template": templates.get(content.get("template_id")),
        "parameters": content.get("parameters") or [],
        "kind_label": "",
        "status": m.status,
        "status_label": m.get_status_display(),
        "tick": symbol,
        "tick_class": tick_class,
        "origin_label": m.get_origin_display(),
    }
    if item["template"] is not None:
        item["text"] = _template_text(item["template"].body, item["parameters"])
    if kind == "module" and item["module"] is None:
        item["kind_label"] = _("機器人模組（已刪除）")
    elif kind == "whatsapp_template" and item["template"] is None:
        item["kind_label"] = _("WhatsApp 範本（已刪除）")
    elif kind not in ("text", "sms", "module", "whatsapp_template"):
        item["text"] = content.get("text", "")
    return item


def timeline(contact, limit=200):
    """The conversation as the customer saw it, oldest first: every message in and out with what the inbox
    renders (text, the chatbot module or WhatsApp template sent, the kind of a media message, status ticks).
    Stored previews ("[輪播] name") and provider error strings are never part of it."""
    inbound = InboundMessage.objects.filter(team_id=contact.team_id, contact=contact).order_by("-occurred_at")[:limit]
    outbound = list(
        OutboundMessage.objects.filter(team_id=contact.team_id, contact=contact).order_by("-created_at")[:limit]
    )
    modules, templates = _modules_of(outbound), _templates_of(outbound)
    items = [_inbound_item(m) for m in inbound] + [_outbound_item(m, modules, templates) for m in outbound]
    return sorted(items, key=lambda item: item["at"])[-limit:]


def snippet(item):
    """One line for the inbox list: the text, else what was sent or received ("輪播: 春季新品", "圖片")."""
    if item["text"]:
        return item["text"]
    if item.get("module") is not None:
        return f"{item['module'].get_type_display()}: {item['module'].name}"
    if item.get("template") is not None:
        return f"{_('WhatsApp 範本')}: {item['template'].name}"
    return item["kind_label"]


# ------------------------------------------------------------------------------------------------ inbox
INBOX_PAGE = 50


def newest_message_at(team):
    """When the team's newest customer message was sent (None: none yet): the inbox list's polls compare it."""
    return InboundMessage.objects.for_team(team).aggregate(last=Max("occurred_at"))["last"]


def has_new_messages(team, since):
    return InboundMessage.objects.for_team(team).filter(occurred_at__gt=since).exists()


def inbox_rows(team, *, q="", channel=None, unread=False, assignee=None, user=None, limit=INBOX_PAGE):
    """The inbox list: contacts who wrote to the team, most recent message (in or out) first, each with its last
    message, unread state and assignee. `assignee`: "me", "none" or None (everyone). Reads `Conversation` by its
    (team, last_message_at) index (kept by services.inbox_state), never a scan over the messages; a fixed
    number of queries."""
    found = Conversation.objects.for_team(team).filter(last_inbound_at__isnull=False)
    if channel:
        found = found.filter(contact__channel=channel)
    if q:
        contacts = Contact.objects.for_team(team).filter(
            Q(display_name__icontains=q)
            | Q(external_id__icontains=q)
            | Q(phone__icontains=q)
            | Q(customer__name__icontains=q)
            | Q(customer__email__icontains=q)
        )
        texts = InboundMessage.objects.for_team(team).filter(text__icontains=q)
        found = found.filter(Q(contact__in=contacts.values("pk")) | Q(contact__in=texts.values("contact_id")))
    if unread:
        found = found.filter(Q(last_read_at__isnull=True) | Q(last_inbound_at__gt=F("last_read_at")))
    if assignee == "me":
        found = found.filter(assignee=user)
    elif assignee == "none":
        found = found.filter(assignee__isnull=True)
    latest = list(
        found.order_by("-last_message_at", "-pk").values("contact_id", "last_inbound_at", "last_message_at")[:limit]
    )
    ids = [row["contact_id"] for row in latest]
    last_in = InboundMessage.objects.filter(team=team, contact=OuterRef("pk")).order_by("-occurred_at", "-pk")
    last_out = OutboundMessage.objects.filter(team=team, contact=OuterRef("pk")).order_by("-created_at", "-pk")
    contacts = {
        c.pk: c
        for c in Contact.objects.for_team(team)
        .filter(pk__in=ids)
        .select_related("channel", "customer")
        .annotate(last_in_id=Subquery(last_in.values("pk")[:1]), last_out_id=Subquery(last_out.values("pk")[:1]))
    }
    conversations = {
        c.contact_id: c
        for c in Conversation.objects.for_team(team).filter(contact_id__in=ids).select_related("assignee")
    }
    inbound = InboundMessage.objects.in_bulk([c.last_in_id for c in contacts.values() if c.last_in_id])
    outbound = list(OutboundMessage.objects.filter(pk__in=[c.last_out_id for c in contacts.values() if c.last_out_id]))
    modules, templates = _modules_of(outbound), _templates_of(outbound)
    outbound = {m.pk: m for m in outbound}
    rows = []
    for row in latest:
        contact = contacts.get(row["contact_id"])
        if contact is None:
            continue
        conversation = conversations.get(contact.pk)
        candidates = []
        if contact.last_in_id in inbound:
            candidates.append(_inbound_item(inbound[contact.last_in_id]))
        if contact.last_out_id in outbound:
            candidates.append(_outbound_item(outbound[contact.last_out_id], modules, templates))
        last = max(candidates, key=lambda item: item["at"]) if candidates else None
        read_at = conversation.last_read_at if conversation else None
        rows.append(
            {
                "contact": contact,
                "channel_short": CHANNEL_SHORT.get(contact.channel.kind, contact.channel.get_kind_display()),
                "last": row["last_message_at"],
                "last_item": last,
                "snippet": snippet(last) if last else "",
                "unread": read_at is None or row["last_inbound_at"] > read_at,
                "assignee": agent_label(conversation.assignee) if conversation else "",
            }
        )
    return rows


def conversation_of(contact):
    conversation, _created = Conversation.objects.get_or_create(team_id=contact.team_id, contact=contact, defaults={})
    return conversation


def mark_read(contact, *, at=None):
    """The team has seen everything up to now: the conversation leaves the unread state."""
    at = at or timezone.now()
    conversation = conversation_of(contact)
    Conversation.objects.filter(pk=conversation.pk).update(last_read_at=at)
    conversation.last_read_at = at
    return conversation


def agent_label(user):
    """How the console names a member: full name, else email, else user name ("" for nobody)."""
    if user is None:
        return ""
    return user.get_full_name() or user.email or user.username


def team_agents(team):
    """Who a conversation can be assigned to: the team's members with the permission to reply."""
    memberships = Membership.objects.filter(team=team).select_related("user").order_by("user__email", "user__username")
    return [m.user for m in memberships if m.has_perm("conversations.reply")]


@transaction.atomic
def assign(contact, assignee, *, by=None):
    """Assign the conversation to a member of its team (None: unassign) and record who did it and when."""
    if assignee is not None and assignee not in team_agents(contact.team):
        raise ServiceError(_("只能指派給可回覆對話的團隊成員。"), field="assignee", code="invalid")
    conversation = conversation_of(contact)
    conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if conversation.assignee_id == getattr(assignee, "pk", None):
        return conversation
    now = timezone.now()
    conversation.assignee, conversation.assigned_at = assignee, now if assignee else None
    conversation.save(update_fields=["assignee", "assigned_at"])
    ConversationAssignment.objects.create(
        team_id=contact.team_id, conversation=conversation, assignee=assignee, assigned_by=by, created_at=now
    )
    return conversation


def assignment_history(contact, limit=10):
    """The latest (re)assignments, newest first: {"at", "assignee", "by"} with the members' names ("" = nobody)."""
    records = (
        ConversationAssignment.objects.filter(team_id=contact.team_id, conversation__contact=contact)
        .select_related("assignee", "assigned_by")
        .order_by("-created_at", "-pk")[:limit]
    )
    return [
        {"at": r.created_at, "assignee": agent_label(r.assignee), "by": agent_label(r.assigned_by) or "—"}
        for r in records
    ]


# Why an agent cannot answer, by messaging.policy.check_send's skip reason (codes are never shown raw).
REPLY_REFUSALS = {
    "blocked": _("這位顧客已封鎖或取消追蹤此帳號，無法回覆。"),
    "unsubscribed": _("這位顧客已取消訂閱，無法回覆。"),
    "over_quota": _("這位顧客已達訊息接收上限，暫時無法回覆。"),
    "channel_disabled": _("此渠道已停用，無法回覆。"),
    "budget_exhausted": _("此渠道的訊息額度已用完，暫時無法回覆。"),
    "needs a template": _("顧客已超過 24 小時未傳訊息，WhatsApp 只能發送已核准的範本。"),
    "outside 24-hour window": _("顧客已超過 24 小時未傳訊息，此平台不允許再回覆。"),
}


def reply_refusal(contact, *, now=None):
    """Why an agent's text reply to this contact would not be sent ("" when it would): the send rule itself
    (messaging.policy.check_send, a service message), so the console never offers a reply the outbox drops."""
    decision = policy.check_send(
        contact=contact, content={"type": "text", "text": ""}, now=now or timezone.now(), kind="service"
    )
    if decision.action != "skip":
        return ""  # sent now, or deferred by the do-not-disturb hours
    return REPLY_REFUSALS.get(decision.reason, _("目前無法回覆這位顧客。"))


def agent_reply(*, contact, text, user=None):
    """Queue an agent's reply (origin agent); the outbox moves 'last team interaction' when it is sent.
    Refused (ServiceError) when the send rule would drop it."""
    refusal = reply_refusal(contact)
    if refusal:
        raise ServiceError(refusal, field="text", code="invalid")
    return outbox.enqueue(
        team=contact.team,
        channel=contact.channel,
        contact=contact,
        content={"type": "text", "text": text},
        origin=Origin.AGENT,
        origin_id=str(getattr(user, "pk", "") or ""),
        idempotency_key=f"agent:{uuid.uuid4()}",
    )[0]


EXPORT_HEADER = [
    "time",
    "channel",
    "contact_id",
    "external_id",
    "contact_name",
    "direction",
    "origin",
    "status",
    "text",
]


def export_rows(team, start, end):
    """CSV lines (strings) of every message in and out in [start, end), in the team's time zone, by time."""
    lines = CsvLines()
    yield BOM + lines.row(EXPORT_HEADER)
    inbound = (
        InboundMessage.objects.filter(team=team, occurred_at__gte=start, occurred_at__lt=end)
        .select_related("channel", "contact")
        .order_by("occurred_at", "id")
        .iterator(chunk_size=2000)
    )
    outbound = (
        OutboundMessage.objects.filter(team=team, created_at__gte=start, created_at__lt=end)
        .select_related("channel", "contact")
        .order_by("created_at", "id")
        .iterator(chunk_size=2000)
    )
    rows = chain(
        ((m.occurred_at, m, "in") for m in inbound),
        ((m.sent_at or m.created_at, m, "out") for m in outbound),
    )
    for at, m, direction in sorted(rows, key=lambda r: r[0]):
        text = m.text if direction == "in" else (m.preview or (m.content or {}).get("text", ""))
        yield lines.row(
            [
                team.localtime(at).isoformat(timespec="seconds"),
                m.channel.name,
                m.contact_id,
                m.contact.external_id,
                m.contact.display_name,
                direction,
                "" if direction == "in" else m.origin,
                "" if direction == "in" else m.status,
                text,
            ]
        )
