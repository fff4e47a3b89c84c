from django import forms
from django.utils.translation import gettext_lazy as _

from .models import PaymentMethod


class SettingsForm(forms.Form):
    """對話下單 > 基本設定 (seed 003): customer email 必填 / 選填 and the default email; method names and switches."""

    email_required = forms.TypedChoiceField(
        label=_("顧客 Email 填寫"),
        choices=[("1", _("必填")), ("0", _("選填"))],
        coerce=lambda v: v == "1",
        widget=forms.RadioSelect,
        help_text=_(
            "選填時，團隊必須提供一組預設的 Email（部分第三方金流服務商需要 Email 才能完成付款），顧客端不會顯示。"
        ),
    )
    default_email = forms.EmailField(label=_("預設 Email"), required=False)
    payment_provider = forms.ChoiceField(label=_("線上金流"), choices=[("sandbox", _("沙盒")), ("stripe", "Stripe")])
    stripe_secret_key = forms.CharField(label="Stripe secret key", required=False, widget=forms.PasswordInput)
    stripe_webhook_secret = forms.CharField(label="Stripe webhook secret", required=False, widget=forms.PasswordInput)
    catalog_id = forms.CharField(label=_("Commerce Manager 目錄 ID"), required=False, max_length=64)
    cart_enabled = forms.BooleanField(label=_("啟用購物車"), required=False)

    def __init__(self, *args, methods=None, **kwargs):
        super().__init__(*args, **kwargs)
        for method in PaymentMethod:
            entry = (methods or {}).get(method.value, {})
            self.fields[f"name_{method.value}"] = forms.CharField(
                label=_("%(m)s 顯示名稱") % {"m": method.label}, max_length=40, initial=entry.get("name")
            )
            self.fields[f"line_{method.value}"] = forms.BooleanField(
                label=_("LINE"), required=False, initial=entry.get("line"), disabled=method.value != "card"
            )
            self.fields[f"whatsapp_{method.value}"] = forms.BooleanField(
                label=_("WhatsApp"), required=False, initial=entry.get("whatsapp")
            )

    def method_rows(self):
        return [
            (method, self[f"name_{method.value}"], self[f"line_{method.value}"], self[f"whatsapp_{method.value}"])
            for method in PaymentMethod
        ]

    def payment_methods(self):
        data = self.cleaned_data
        return {
            m.value: {
                "name": data[f"name_{m.value}"],
                "line": data[f"line_{m.value}"] if m.value == "card" else False,
                "whatsapp": data[f"whatsapp_{m.value}"],
            }
            for m in PaymentMethod
        }


class LogoForm(forms.Form):
    logo = forms.FileField(label=_("上傳 Logo"))


class BranchForm(forms.Form):
    name = forms.CharField(label=_("分店名稱"), max_length=100)
    address = forms.CharField(label=_("地址"), max_length=300, required=False)


class ProductForm(forms.Form):
    retailer_id = forms.CharField(label=_("商品編號（SKU）"), max_length=100)
    name = forms.CharField(label=_("商品名稱"), max_length=200)
    price = forms.DecimalField(label=_("單價"), min_value=0, max_digits=14, decimal_places=2)
