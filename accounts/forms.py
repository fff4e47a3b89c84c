import zoneinfo

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.core.exceptions import ValidationError
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


class TeamSettingsForm(forms.ModelForm):
    time_zone = forms.ChoiceField(label=_("時區"))

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
            "outbound_webhook_url",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        zones = COMMON_TIME_ZONES + sorted(z for z in zoneinfo.available_timezones() if z not in COMMON_TIME_ZONES)
        self.fields["time_zone"].choices = [(z, z) for z in zones]


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
