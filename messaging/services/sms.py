"""SMS sending (seed 004): 「LINE 通知快捷發送簡訊」 (quick SMS) and 「手機綁定發送簡訊」 (phone binding by code).

Both go through the outbox (exactly once, retries, claim and lease) on the team's SMS channel: its active
non-sandbox SMS channel, else a sandbox SMS channel (made on first use, so a fresh install sends). Each is paid
from the account balance (sms_billing); below the grace amount both are refused and nothing is debited.

Phone binding. `start_binding` sends a 6-digit code to the phone; the code is stored hashed (HMAC-SHA256 with
SECRET_KEY), valid MESSAGING_PHONE_CODE_MINUTES (10). A contact may start MESSAGING_PHONE_CODE_PER_HOUR codes an
hour, and so may a phone (whoever asks); each code takes MESSAGING_PHONE_CODE_ATTEMPTS wrong tries, and a contact
MESSAGING_PHONE_CODE_ATTEMPTS_PER_HOUR wrong tries an hour over all its codes. `verify_binding` with the right code
binds the phone through the identity service (method sms_code): merge rules and member_id_conflict as everywhere.

By chat: a keyword rule with `starts_phone_binding` asks the contact for the number (`start_chat`); its next text
is the number (a code is sent), the one after the code (`continue_chat`, before keyword rules). Refusals (below
grace, too many codes) are answered in the chat with the same clear message.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from billing import services as ledger
from cdp.models import Channel, ChannelKind, ChannelStatus
from cdp.phones import normalize_phone
from cdp.services import identity

from ..adapters.sms import segments as count_segments
from ..models import Origin, PhoneBindingChat, PhoneBindingCode
from . import outbox, sms_billing
from .channels import connect_channel

MAX_TEXT = 1000


class SmsRefused(Exception):
    """An SMS feature refused for the team (below the grace amount, no usable SMS channel); `code` for the API."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class Quote:
    segments: int
    price: Decimal
    currency: str
    balance: Decimal
    blocked: bool

    def as_dict(self):
        return {
            "segments": self.segments,
            "price": str(self.price),
            "currency": self.currency,
            "balance": str(self.balance),
            "blocked": self.blocked,
        }


def sms_channel(team):
    """The channel SMS go out on: the oldest active provider channel, else the team's sandbox SMS channel."""
    channels = Channel.objects.filter(team=team, kind=ChannelKind.SMS, status=ChannelStatus.ACTIVE).order_by("id")
    real = channels.filter(is_sandbox=False).first()
    if real is not None:
        return real
    sandbox = channels.filter(is_sandbox=True).first()
    if sandbox is not None:
        return sandbox
    if Channel.objects.filter(team=team, kind=ChannelKind.SMS).exists():
        raise SmsRefused("sms_channel_disabled", _("團隊的簡訊渠道已停用。"))
    return connect_channel(team=team, kind=ChannelKind.SMS, name=_("簡訊（沙盒）"), is_sandbox=True)


def clean_text(text):
    text = str(text or "").strip()
    if not text:
        raise ValidationError({"text": [_("請輸入簡訊內容。")]})
    if len(text) > MAX_TEXT:
        raise ValidationError({"text": [_("簡訊內容最多 %(max)s 字。") % {"max": MAX_TEXT}]})
    return text


def clean_phone(team, phone):
    try:
        value = normalize_phone(phone, team.default_region or "TW")
    except ValidationError as exc:
        raise ValidationError({"phone": exc.messages})
    if not value:
        raise ValidationError({"phone": [_("請輸入手機號碼。")]})
    return value


def quote(team, text):
    """What `text` costs: its 則 (our estimate: the provider's count wins once sent) at 1 per 則."""
    n = count_segments(text or "")
    return Quote(n, sms_billing.price(n), team.currency, ledger.balance(team), ledger.is_blocked(team))


def contact_phone(contact):
    """The number a quick SMS goes to: the contact's own phone, else its customer's."""
    return contact.phone or (contact.customer.phone if contact.customer_id else "")


def send(*, team, contact, text, origin, idempotency_key, phone="", actor=""):
    """Queue one SMS to `phone` (the contact's phone when empty) and debit it; SmsRefused when below grace.

    Idempotent by key: the same key returns the first row and debits nothing more."""
    if contact.team_id != team.pk:
        raise ValidationError({"contact_id": [_("找不到聯絡人。")]})
    text = clean_text(text)
    phone = clean_phone(team, phone or contact_phone(contact))
    try:
        with transaction.atomic():
            channel = sms_channel(team)
            message, created = outbox.enqueue(
                team=team,
                channel=channel,
                contact=contact,
                content={"type": "text", "text": text},
                origin=origin,
                origin_id=contact.pk,
                idempotency_key=idempotency_key,
                recipient=phone,
            )
            if created:
                sms_billing.charge(message, count_segments(text), actor=actor)
    except ledger.BalanceBlocked as exc:
        raise SmsRefused(exc.code, str(exc)) from exc
    return message, created


def quick_send(*, team, contact, text, actor="", idempotency_key=""):
    """「LINE 通知快捷發送簡訊」: an agent's SMS to the customer's phone. A fresh key unless the caller gives one."""
    key = f"quick_sms:{idempotency_key}" if idempotency_key else f"quick_sms:{secrets.token_hex(12)}"
    return send(team=team, contact=contact, text=text, origin=Origin.QUICK_SMS, idempotency_key=key, actor=actor)


# --- phone binding -------------------------------------------------------------------------------------------


class BindingRefused(Exception):
    def __init__(self, code, message, status=400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _hash(team, phone, code):
    raw = f"{team.pk}:{phone}:{code}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), raw, hashlib.sha256).hexdigest()


def _recent(team, since, **filters):
    return PhoneBindingCode.objects.filter(team=team, created_at__gte=since, **filters)


def start_binding(*, team, contact, phone, actor=""):
    """Send a one-time code to `phone` for `contact`. Returns the PhoneBindingCode (its code only goes by SMS)."""
    if contact.team_id != team.pk:
        raise ValidationError({"contact_id": [_("找不到聯絡人。")]})
    phone = clean_phone(team, phone)
    now = timezone.now()
    hour_ago = now - timedelta(hours=1)
    limit = settings.MESSAGING_PHONE_CODE_PER_HOUR
    if (
        _recent(team, hour_ago, contact=contact).count() >= limit
        or _recent(team, hour_ago, phone=phone).count() >= limit
    ):
        raise BindingRefused("too_many_codes", _("驗證碼發送次數過多，請稍後再試。"), status=429)
    code = f"{secrets.randbelow(10**6):06d}"
    minutes = settings.MESSAGING_PHONE_CODE_MINUTES
    text = _("您的手機綁定驗證碼：%(code)s，%(minutes)s 分鐘內有效。") % {"code": code, "minutes": minutes}
    with transaction.atomic():
        record = PhoneBindingCode.objects.create(
            team=team,
            contact=contact,
            phone=phone,
            code_hash=_hash(team, phone, code),
            created_at=now,
            expires_at=now + timedelta(minutes=minutes),
        )
        message, _created = send(
            team=team,
            contact=contact,
            text=text,
            phone=phone,
            origin=Origin.PHONE_BINDING,
            idempotency_key=f"phone_binding:{record.pk}",
            actor=actor,
        )
        PhoneBindingCode.objects.filter(pk=record.pk).update(message=message)
        record.message = message
    return record


def verify_binding(*, team, contact, phone, code):
    """Check the contact's latest live code for `phone`; on success bind the phone (identity.bind_contact)."""
    if contact.team_id != team.pk:
        raise ValidationError({"contact_id": [_("找不到聯絡人。")]})
    phone = clean_phone(team, phone)
    code = str(code or "").strip()
    if not code:
        raise ValidationError({"code": [_("請輸入驗證碼。")]})
    now = timezone.now()
    hour_ago = now - timedelta(hours=1)
    wrong = _recent(team, hour_ago, contact=contact).aggregate(n=Sum("attempts"))["n"] or 0
    if wrong >= settings.MESSAGING_PHONE_CODE_ATTEMPTS_PER_HOUR:
        raise BindingRefused("too_many_attempts", _("驗證失敗次數過多，請稍後再試。"), status=429)
    with transaction.atomic():
        record = (
            PhoneBindingCode.objects.select_for_update()
            .filter(team=team, contact=contact, phone=phone, verified_at__isnull=True, expires_at__gt=now)
            .order_by("-created_at", "-id")
            .first()
        )
        if record is None:
            raise BindingRefused("code_expired", _("驗證碼已過期或不存在，請重新發送。"))
        if record.attempts >= settings.MESSAGING_PHONE_CODE_ATTEMPTS:
            raise BindingRefused("too_many_attempts", _("驗證失敗次數過多，請重新發送驗證碼。"), status=429)
        right = hmac.compare_digest(record.code_hash, _hash(team, phone, code))
        if right:
            PhoneBindingCode.objects.filter(pk=record.pk).update(verified_at=now)
        else:
            PhoneBindingCode.objects.filter(pk=record.pk).update(attempts=record.attempts + 1)
    if not right:  # raised after the commit, so the wrong try counts
        raise BindingRefused("wrong_code", _("驗證碼錯誤。"))
    return identity.bind_contact(contact=contact, method="sms_code", phone=phone, occurred_at=now)


# --- phone binding by chat (a keyword rule starts it) --------------------------------------------------------


def _chat_reply(event, contact, text, step):
    outbox.enqueue(
        team=event.team,
        channel=event.channel,
        contact=contact,
        content={"type": "text", "text": text},
        origin=Origin.AUTO_REPLY,
        origin_id=f"phone_binding:{step}",
        idempotency_key=f"phone_chat:{step}:{event.dedup_key}"[:200],
    )


def start_chat(*, contact, event):
    """The keyword matched: ask for the phone number; the contact's next text message continues the flow."""
    now = timezone.now()
    PhoneBindingChat.objects.update_or_create(
        team_id=contact.team_id,
        contact=contact,
        defaults={
            "phone": "",
            "started_at": now,
            "expires_at": now + timedelta(minutes=settings.MESSAGING_PHONE_CODE_MINUTES),
        },
    )
    _chat_reply(event, contact, _("請輸入要綁定的手機號碼。"), "ask")


def continue_chat(*, contact, event, text):
    """The contact's text while in the flow: a phone number (a code is sent) or the code (the phone is bound).
    Returns False when the contact is in no live flow (the message goes to keyword rules as usual)."""
    now = timezone.now()
    chat = PhoneBindingChat.objects.filter(team_id=contact.team_id, contact=contact, expires_at__gt=now).first()
    if chat is None:
        return False
    team = event.team
    if not chat.phone:
        try:
            record = start_binding(team=team, contact=contact, phone=text, actor="chat")
        except ValidationError:
            _chat_reply(event, contact, _("無法辨識的手機號碼，請重新輸入。"), "bad_phone")
            return True
        except (SmsRefused, BindingRefused) as exc:
            PhoneBindingChat.objects.filter(pk=chat.pk).delete()
            _chat_reply(event, contact, exc.message, "refused")
            return True
        PhoneBindingChat.objects.filter(pk=chat.pk).update(phone=record.phone, expires_at=record.expires_at)
        sent = _("驗證碼已傳送至 %(phone)s，請輸入簡訊中的 6 位數驗證碼。") % {"phone": record.phone}
        _chat_reply(event, contact, sent, "sent")
        return True
    try:
        result = verify_binding(team=team, contact=contact, phone=chat.phone, code=text)
    except BindingRefused as exc:
        if exc.code != "wrong_code":
            PhoneBindingChat.objects.filter(pk=chat.pk).delete()
        _chat_reply(event, contact, exc.message, exc.code)
        return True
    PhoneBindingChat.objects.filter(pk=chat.pk).delete()
    if result.status == "member_id_conflict":
        _chat_reply(event, contact, _("這個手機號碼屬於其他會員，無法綁定。"), "conflict")
    else:
        _chat_reply(event, contact, _("手機號碼 %(phone)s 綁定成功。") % {"phone": chat.phone}, "bound")
    return True
