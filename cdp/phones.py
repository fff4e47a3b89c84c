"""Phone and email normalisation (E.164 via phonenumbers, lower-cased emails)."""

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _


def normalize_phone(raw, region="TW"):
    """Return the E.164 form of `raw` ('' for blank), or raise ValidationError with a clear message."""
    value = (raw or "").strip()
    if not value:
        return ""
    if value.isdigit() and not value.startswith("0") and len(value) > 9:
        value = "+" + value  # WhatsApp wa_id: country code and number without '+'
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise ValidationError(_("無法辨識的電話號碼：%(value)s") % {"value": raw})
    if not phonenumbers.is_possible_number(number) or not phonenumbers.is_valid_number(number):
        raise ValidationError(_("無效的電話號碼：%(value)s") % {"value": raw})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw):
    value = (raw or "").strip().lower()
    if not value:
        return ""
    validate_email(value)
    return value
