import zoneinfo
from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import throttle
from .models import Team
from .permissions import Role

COMMON_TIME_ZONES = [
    "Asia/Taipei",
    "Asia/Hong_Kong",
    "Asia/Singapore",
    "Asia/Kuala_Lumpur",
    "Asia/Bangkok",
    "Asia/Jakarta",
    "Asia/Manila",
    "Asia/Ho_Chi_Minh",
    "Asia/Tokyo",
    "UTC",
]


class ExchangeRatesField(forms.CharField):
    """Team exchange rates typed one a line, "HKD 4.05" (1 HKD = 4.05 of the team's currency) → {"HKD": "4.05"}."""

    widget = forms.Textarea(attrs={"rows": 3, "placeholder": "HKD 4.05"})

    def prepare_value(self, value):
        if isinstance(value, dict):
            return "\n".join(f"{code} {rate}" for code, rate in sorted(value.items()))
        return value

    def to_python(self, value):
        rates = {}
        for number, line in enumerate((value or "").splitlines(), start=1):
            parts = line.replace("=", " ").split()
            if not parts:
                continue
            if len(parts) != 2:
                raise ValidationError(_("第 %(n)s 行：請寫成「幣別 匯率」，例如 HKD 4.05。"), params={"n": number})
            code, rate = parts[0].upper(), parts[1]
            try:
                number = Decimal(rate)
            except InvalidOperation:
                number = None
            # A plain decimal string ("1000", never "1E+3"); anything else is left for the model's validator,
            # which names the currency.
            rates[code] = format(number.normalize(), "f") if number is not None and number.is_finite() else rate
        return rates


class TeamSettingsForm(forms.ModelForm):
    time_zone = forms.ChoiceField(label=_("時區"))
    exchange_rates = ExchangeRatesField(
        label=_("匯率"),
        required=False,
        help_text=_("每行一個幣別：「HKD 4.05」表示 1 HKD = 4.05 團隊幣別。用於跨幣別計算廣告投資報酬率。"),
    )

    class Meta:
        model = Team
        fields = [
            "name",
            "time_zone",
            "currency",
            "default_region",
            "billing_email",
            "avatar",
            "match_by_phone",
            "match_by_email",
            "line_message_cost",
            "whatsapp_message_cost",
            "whatsapp_prepaid_price",
            "attribution_window_days",
            "points_allow_negative",
            "points_per_order_amount",
            "binding_link_days",
            "exchange_rates",
            "outbound_webhook_url",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        zones = COMMON_TIME_ZONES + sorted(z for z in zoneinfo.available_timezones() if z not in COMMON_TIME_ZONES)
        self.fields["time_zone"].choices = [(z, z) for z in zones]
        self.fields["binding_link_days"].required = False  # left empty: unchanged

    def clean_binding_link_days(self):
        return self.cleaned_data.get("binding_link_days") or self.instance.binding_link_days or 7


class ApiKeyForm(forms.Form):
    prefix = "key"
    name = forms.CharField(
        label=_("名稱"), max_length=100, widget=forms.TextInput(attrs={"placeholder": _("金鑰名稱，例如：官網整合")})
    )
    role = forms.ChoiceField(label=_("角色"), choices=Role.choices, initial=Role.ADMIN)


class MemberForm(forms.Form):
    prefix = "member"
    email = forms.EmailField(label=_("Email"), widget=forms.EmailInput(attrs={"placeholder": _("成員的 Email")}))
    role = forms.ChoiceField(label=_("角色"), choices=Role.choices, initial=Role.MARKETER)

    def clean_email(self):
        email = self.cleaned_data["email"].strip().lower()
        user = get_user_model().objects.filter(email__iexact=email).first()
        if user is None:
            raise forms.ValidationError(_("找不到這個 Email 的使用者，請先請對方註冊帳號。"))
        self.user = user
        return email


class ThrottledLoginMixin:
    """Sign-in forms (the console's and Django admin's): refused while the account or the address is locked,
    even with the right password; each failure counts (accounts/throttle.py)."""

    def clean(self):
        username, password = self.cleaned_data.get("username"), self.cleaned_data.get("password")
        if not username or not password:
            return super().clean()
        throttle.check(throttle.LOGIN, self.request, username)
        try:
            cleaned = super().clean()
        except ValidationError:
            locked = throttle.count(throttle.LOGIN, self.request, username)
            if locked is not None:
                raise locked from None
            raise
        throttle.forget(throttle.LOGIN, username)
        return cleaned


class LoginForm(ThrottledLoginMixin, AuthenticationForm):
    pass


class AdminLoginForm(ThrottledLoginMixin, AdminAuthenticationForm):
    pass


class ThrottledPasswordResetForm(PasswordResetForm):
    """Reset links are limited per email and per address, whether or not the email has an account."""

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request

    def clean_email(self):
        email = self.cleaned_data["email"]
        throttle.check(throttle.PASSWORD_RESET, self.request, email)
        throttle.count(throttle.PASSWORD_RESET, self.request, email)
        return email


class TeamDateTimeField(forms.DateTimeField):
    """A date-time typed in the team's time zone (a datetime-local input), whatever zone is active: console
    forms of broadcasts and journeys. ``zone`` is set by the form from its team."""

    def __init__(self, *args, zone=None, **kwargs):
        self.zone = zone
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        if self.zone is None:
            return super().to_python(value)
        with timezone.override(self.zone):
            return super().to_python(value)
