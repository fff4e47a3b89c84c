"""OMO 綁定 (seed 000): the team's staff and branch list, their QR codes / links, and binding contacts to them.

A member's link opens a chat with its code already there: LINE (oaMessage, the code typed), WhatsApp (wa.me
?text=, the code typed), Messenger (m.me ?ref=omo-<code>, a referral). Webhook processing (messaging) reads the
code from the first message or the referral: a contact it creates gets source OMO 綁定, an existing contact is
bound (its source never changes). Staff can add a customer by hand, a manager can transfer contacts (手動移轉),
and keyword auto-assign rules that name a listed branch bind too. Every binding is an OmoAssignment row.
"""

import re
import secrets
from urllib.parse import quote

import segno
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import ServiceError

from ..models import Channel, ChannelKind, Contact, ContactSource, OmoAssignment, OmoKind, OmoMember, OmoMethod
from . import contacts as contact_services

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed by hand
CODE_RE = re.compile(r"\bOMO-([A-Z2-9]{6})\b", re.IGNORECASE)
REF_PREFIX = "omo-"
LINK_CHANNEL_KINDS = (ChannelKind.LINE, ChannelKind.WHATSAPP, ChannelKind.FACEBOOK)  # where a member link opens


def create_member(*, team, kind, name):
    name = (name or "").strip()
    if kind not in OmoKind.values:
        raise ServiceError(_("類型必須是店員或分店。"), field="kind")
    if not name:
        raise ServiceError(_("請輸入名稱。"), field="name")
    if OmoMember.objects.for_team(team).filter(kind=kind, name=name).exists():
        raise ServiceError(_("已有同名的%(kind)s。") % {"kind": OmoKind(kind).label}, field="name", code="conflict")
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _i in range(6))
        if not OmoMember.objects.for_team(team).filter(code=code).exists():
            return OmoMember.objects.create(team=team, kind=kind, name=name[:120], code=code)


def members_for_team(team):
    return OmoMember.objects.for_team(team)


def prefilled_text(member):
    return f"OMO-{member.code}"


def member_link(member, channel):
    """The deep link of `member` on `channel` ("" when the channel lacks what a link needs)."""
    creds = channel.credentials or {}
    text = quote(prefilled_text(member))
    if channel.kind == ChannelKind.LINE and creds.get("basic_id"):
        return f"https://line.me/R/oaMessage/{quote(creds['basic_id'])}/?{text}"
    if channel.kind == ChannelKind.WHATSAPP:
        phone = "".join(ch for ch in creds.get("display_phone_number", "") if ch.isdigit())
        return f"https://wa.me/{phone}?text={text}" if phone else ""
    if channel.kind == ChannelKind.FACEBOOK and channel.external_id:
        return f"https://m.me/{channel.external_id}?ref={REF_PREFIX}{member.code}"
    return ""


def link_channels(team):
    """The team's active channels a member's link can open a chat on (the console page and the API list them)."""
    return list(Channel.objects.for_team(team).active().filter(kind__in=LINK_CHANNEL_KINDS))


def member_links(member, channels):
    """[(channel, link)] of `member` on each of `channels` whose link can be made."""
    return [(channel, link) for channel in channels if (link := member_link(member, channel))]


def qr_svg(url):
    return segno.make(url, error="m").svg_inline(scale=4)


def member_for_text(team_id, text):
    """The active member whose code a customer's message carries (the prefilled text of its link), or None."""
    match = CODE_RE.search(text or "")
    if not match:
        return None
    return OmoMember.objects.filter(team_id=team_id, code=match.group(1).upper(), is_active=True).first()


def member_for_ref(team_id, ref):
    ref = str(ref or "")
    if not ref.lower().startswith(REF_PREFIX):
        return None
    code = ref[len(REF_PREFIX) :].upper()
    return OmoMember.objects.filter(team_id=team_id, code=code, is_active=True).first()


def member_by_pk(team_id, pk):
    if not str(pk).isdigit():
        return None
    return OmoMember.objects.filter(team_id=team_id, pk=int(pk)).first()


def branch_named(team_id, name):
    """A keyword rule's assign_branch that names a listed branch: its QR / link is a branch QR (OMO 綁定)."""
    if not name:
        return None
    return OmoMember.objects.filter(team_id=team_id, kind=OmoKind.BRANCH, name=name, is_active=True).first()


def assign(contact, member, *, method, by=None, at=None):
    """Bind `contact` to `member` (the staff or the branch name on the contact) and record it. No-op when the
    contact is already bound to that member by the same name (a second scan is not a new binding)."""
    field = "omo_staff" if member.kind == OmoKind.STAFF else "omo_branch"
    previous = getattr(contact, field)
    if previous == member.name and (method != OmoMethod.TRANSFER or _last_member_id(contact, member.kind) == member.pk):
        return None  # a retried transfer to the member it already went to moves nothing (a namesake still moves)
    Contact.objects.filter(pk=contact.pk).update(**{field: member.name})
    setattr(contact, field, member.name)
    return OmoAssignment.objects.create(
        team_id=contact.team_id,
        contact=contact,
        member=member,
        method=method,
        previous=previous,
        by=by,
        at=at or timezone.now(),
    )


def _last_member_id(contact, kind):
    return (
        OmoAssignment.objects.filter(team_id=contact.team_id, contact=contact, member__kind=kind)
        .order_by("-at", "-pk")
        .values_list("member_id", flat=True)
        .first()
    )


def add_customer(*, team, channel, external_id, member, by=None, display_name="", occurred_at=None):
    """手動新增客戶: a staff member adds a customer by hand (a WhatsApp number, or a channel id). A new contact
    gets source OMO 綁定; an existing one is only bound."""
    if channel.team_id != team.pk or member.team_id != team.pk or not member.is_active:
        raise ServiceError(_("找不到渠道或成員。"), code="invalid")
    if channel.kind == ChannelKind.SMS or not Channel.objects.for_team(team).active().filter(pk=channel.pk).exists():
        raise ServiceError(_("這個渠道無法新增客戶。"), field="channel")
    external_id = (external_id or "").strip()
    phone = ""
    if channel.kind == ChannelKind.WHATSAPP:
        try:
            external_id = phone = contact_services.whatsapp_number(team, external_id)
        except ServiceError as exc:  # the number is what the form and the API call external_id
            raise ServiceError(exc.messages[0], field="external_id", code=exc.code) from exc
    if not external_id or len(external_id) > 128:
        raise ServiceError(_("請輸入聯絡人的渠道 ID。"), field="external_id")
    with transaction.atomic():
        result = contact_services.upsert_contact(
            channel=channel,
            external_id=external_id,
            source=ContactSource.OMO_BINDING,
            source_detail=f"omo:{member.pk}",
            display_name=display_name[:200],
            phone=phone,
            occurred_at=occurred_at,
        )
        assign(result.contact, member, method=OmoMethod.MANUAL, by=by, at=occurred_at)
    return result


def transfer(*, team, contact_ids, member, by=None):
    """手動移轉: bind these contacts of the team to another staff member / branch; each move is recorded."""
    if member.team_id != team.pk or not member.is_active:
        raise ServiceError(_("找不到成員。"), code="invalid")
    moved = 0
    with transaction.atomic():
        for contact in Contact.objects.for_team(team).filter(pk__in=list(contact_ids)).select_for_update():
            if assign(contact, member, method=OmoMethod.TRANSFER, by=by) is not None:
                moved += 1
    return moved
