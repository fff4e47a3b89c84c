"""對話下單 > 基本設定 (seed 003): merchant logo, customer email 必填 / 選填, payment method names and switches."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from core.errors import ServiceError

from ..models import METHOD_CHANNEL_KINDS, CommerceSettings, LogoMode, PaymentMethod

CHANNEL_KINDS = ("line", "whatsapp")
MAX_LOGO_BYTES = 2 * 1024 * 1024
LOGO_TYPES = {".png", ".jpg", ".jpeg", ".gif", ".webp"}


def default_methods():
    return {
        method.value: {
            "name": "",  # "": the seed's name, shown in the reader's language
            **{kind: kind in METHOD_CHANNEL_KINDS[method] for kind in CHANNEL_KINDS},
        }
        for method in PaymentMethod
    }


def get_settings(team):
    """The team's settings row, made with the seed's defaults on first read."""
    row = CommerceSettings.objects.filter(team=team).first()
    if row is None:
        row, _created = CommerceSettings.objects.get_or_create(
            team=team, defaults={"payment_methods": default_methods()}
        )
    return row


def methods(row):
    """{method: {"name", "line", "whatsapp"}} with defaults for anything missing; offline never on LINE."""
    merged = default_methods()
    for method, value in (row.payment_methods or {}).items():
        if method in merged and isinstance(value, dict):
            merged[method].update({k: v for k, v in value.items() if k in ("name", "line", "whatsapp")})
    for method, entry in merged.items():
        for kind in CHANNEL_KINDS:
            entry[kind] = bool(entry[kind]) and kind in METHOD_CHANNEL_KINDS[method]
        if is_default_name(method, entry["name"]):
            entry["name"] = str(PaymentMethod(method).label)
    return merged


def is_default_name(method, name):
    """A blank name, or the seed's name in any console language (rows saved before names were kept blank): the
    default, which each reader sees in their own language, never a stored custom name."""
    if not name:
        return True
    label = PaymentMethod(method).label
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            if name == str(label):
                return True
    return False


def display_name(row, method):
    return methods(row)[method]["name"] if method else ""


def methods_for_channel(row, channel_kind):
    """The methods switched on for a channel kind, in the seed's order: [(method, display name)]."""
    return [(m, v["name"]) for m, v in methods(row).items() if v.get(channel_kind)]


@transaction.atomic
def update_settings(
    team,
    *,
    email_required=None,
    default_email=None,
    payment_methods=None,
    payment_provider=None,
    provider_credentials=None,
    catalog_id=None,
    cart_enabled=None,
):
    """Change the settings; every check first, so a refused change writes nothing."""
    row = CommerceSettings.objects.select_for_update().get(pk=get_settings(team).pk)
    required = row.email_required if email_required is None else bool(email_required)
    email = row.default_email if default_email is None else str(default_email).strip()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise ServiceError(_("預設 Email 格式不正確。"), field="default_email", code="invalid_email") from None
    if not required and not email:
        raise ServiceError(
            _("Email 選填時，團隊必須提供一組預設的 Email。"), field="default_email", code="default_email_required"
        )
    if payment_methods is not None:
        row.payment_methods = clean_methods(payment_methods)
    if payment_provider is not None:
        if payment_provider not in ("sandbox", "stripe"):
            raise ServiceError(
                _("不支援的金流：%(p)s") % {"p": payment_provider}, field="payment_provider", code="invalid_provider"
            )
        row.payment_provider = payment_provider
    if provider_credentials is not None:
        if not isinstance(provider_credentials, dict):
            raise ServiceError(_("金流設定必須是物件。"), field="provider_credentials", code="invalid")
        keep = {k: str(v) for k, v in provider_credentials.items() if k in ("secret_key", "webhook_secret") and v}
        row.provider_credentials = {**(row.provider_credentials or {}), **keep}
    if row.payment_provider == "stripe":
        creds = row.provider_credentials or {}
        if not creds.get("secret_key") or not creds.get("webhook_secret"):
            raise ServiceError(
                _("Stripe 需要 secret_key 與 webhook_secret。"),
                field="provider_credentials",
                code="missing_credentials",
            )
    if catalog_id is not None:
        row.catalog_id = str(catalog_id).strip()[:64]
    if cart_enabled is not None:
        row.cart_enabled = bool(cart_enabled)
    row.email_required, row.default_email, row.updated_at = required, email, timezone.now()
    row.save()
    return row


def clean_methods(value):
    if not isinstance(value, dict):
        raise ServiceError(_("付款方式設定必須是物件。"), field="payment_methods", code="invalid_payment_methods")
    out = default_methods()
    for method, entry in value.items():
        if method not in out or not isinstance(entry, dict):
            raise ServiceError(
                _("未知的付款方式：%(m)s") % {"m": method}, field="payment_methods", code="invalid_payment_methods"
            )
        name = entry.get("name")
        if name is not None:
            if not isinstance(name, str) or not name.strip() or len(name) > 40:
                raise ServiceError(
                    _("付款方式顯示名稱需為 1–40 字。"), field="payment_methods", code="invalid_payment_methods"
                )
            out[method]["name"] = "" if is_default_name(method, name.strip()) else name.strip()
        for kind in CHANNEL_KINDS:
            if kind in entry:
                on = bool(entry[kind])
                if on and kind not in METHOD_CHANNEL_KINDS[method]:
                    raise ServiceError(
                        _("線下付款目前僅支援 WhatsApp。"), field="payment_methods", code="offline_whatsapp_only"
                    )
                out[method][kind] = on
    return out


# ------------------------------------------------------------------------------------------------- logo
def logo_file(team, row=None):
    """The image shown on the customer pages, or None (seed 003's default-to-team-avatar rules)."""
    row = row or get_settings(team)
    if row.logo_mode == LogoMode.UPLOADED and row.logo:
        return row.logo
    if row.logo_mode == LogoMode.TEAM_AVATAR and team.avatar:
        return team.avatar
    return None


def upload_logo(team, upload):
    name = (getattr(upload, "name", "") or "").lower()
    if not any(name.endswith(ext) for ext in LOGO_TYPES):
        raise ServiceError(_("Logo 必須是 PNG、JPG、GIF 或 WebP 圖片。"), field="logo", code="invalid_logo")
    if upload.size > MAX_LOGO_BYTES:
        raise ServiceError(_("Logo 不可超過 2 MB。"), field="logo", code="invalid_logo")
    row = get_settings(team)
    if row.logo:
        row.logo.delete(save=False)
    row.logo.save(name.rsplit("/", 1)[-1], upload, save=False)
    row.logo_mode, row.updated_at = LogoMode.UPLOADED, timezone.now()
    row.save()
    return row


def delete_logo(team):
    """Delete what is shown: an uploaded image goes away; the team avatar is hidden (and can be restored)."""
    row = get_settings(team)
    if row.logo:
        row.logo.delete(save=False)
    row.logo_mode, row.updated_at = LogoMode.NONE, timezone.now()
    row.save()
    return row


def restore_team_avatar(team):
    row = get_settings(team)
    if not team.avatar:
        raise ServiceError(_("團隊沒有設定大頭照。"), field="logo", code="no_team_avatar")
    if row.logo:
        row.logo.delete(save=False)
    row.logo_mode, row.updated_at = LogoMode.TEAM_AVATAR, timezone.now()
    row.save()
    return row
