from django import forms
from django.utils.translation import gettext_lazy as _

from cdp.models import Channel, ChannelKind

from .models import ChatbotModule, KeywordRule

MESSAGING_KINDS = [(k, label) for k, label in ChannelKind.choices if k in ("line", "facebook", "instagram", "whatsapp")]


class ChannelForm(forms.Form):
    kind = forms.ChoiceField(label=_("渠道類型"), choices=MESSAGING_KINDS)
    name = forms.CharField(label=_("名稱"), max_length=200)
    external_id = forms.CharField(
        label=_("平台帳號 ID"),
        max_length=128,
        required=False,
        help_text=_("LINE Bot user ID、粉絲專頁 ID、IG 帳號 ID 或 WhatsApp phone_number_id。"),
    )
    is_sandbox = forms.BooleanField(label=_("沙盒渠道（免憑證，模擬發送）"), required=False)
    channel_secret = forms.CharField(label=_("Channel secret"), required=False, widget=forms.PasswordInput)
    access_token = forms.CharField(label=_("Access token"), required=False, widget=forms.PasswordInput)
    page_access_token = forms.CharField(label=_("粉絲專頁存取權杖"), required=False, widget=forms.PasswordInput)
    app_secret = forms.CharField(label=_("App secret"), required=False, widget=forms.PasswordInput)
    waba_id = forms.CharField(label=_("WhatsApp 商業帳號 ID"), required=False)
    basic_id = forms.CharField(label=_("LINE 官方帳號 ID（@...）"), required=False)

    CREDENTIALS = ("channel_secret", "access_token", "page_access_token", "app_secret", "waba_id", "basic_id")

    def __init__(self, *args, team=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.team = team

    def clean(self):
        data = super().clean()
        kind, sandbox = data.get("kind"), data.get("is_sandbox")
        if kind and not sandbox:
            required = {"line": ["channel_secret", "access_token"], "whatsapp": ["app_secret", "access_token"]}.get(
                kind, ["app_secret"]
            )
            for field in required:
                if not data.get(field):
                    self.add_error(field, _("此渠道需要這個憑證。"))
            if kind == "whatsapp" and not data.get("external_id"):
                self.add_error("external_id", _("WhatsApp 需要 phone_number_id。"))
        ext = data.get("external_id")
        if ext and kind and Channel.objects.filter(team=self.team, kind=kind, external_id=ext).exists():
            self.add_error("external_id", _("這個帳號已經連結。"))
        return data

    def credentials(self):
        return {k: self.cleaned_data.get(k, "") for k in self.CREDENTIALS}


class CredentialsForm(forms.Form):
    channel_secret = forms.CharField(label=_("Channel secret"), required=False, widget=forms.PasswordInput)
    access_token = forms.CharField(label=_("Access token"), required=False, widget=forms.PasswordInput)
    page_access_token = forms.CharField(label=_("粉絲專頁存取權杖"), required=False, widget=forms.PasswordInput)
    app_secret = forms.CharField(label=_("App secret"), required=False, widget=forms.PasswordInput)
    waba_id = forms.CharField(label=_("WhatsApp 商業帳號 ID"), required=False)
    basic_id = forms.CharField(label=_("LINE 官方帳號 ID（@...）"), required=False)


class ListField(forms.CharField):
    """Comma- or newline-separated values → list."""

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        value = super().to_python(value) or ""
        return [part.strip() for part in value.replace("\n", ",").replace("，", ",").split(",") if part.strip()]


class KeywordRuleForm(forms.ModelForm):
    keywords = ListField(label=_("關鍵字"), help_text=_("以逗號分隔多個關鍵字。"))
    tags = ListField(label=_("貼上標籤"), required=False, help_text=_("以逗號分隔。"))

    class Meta:
        model = KeywordRule
        fields = [
            "name",
            "channel",
            "keywords",
            "match_type",
            "reply_text",
            "reply_module",
            "assign_staff",
            "assign_branch",
            "tags",
            "is_active",
        ]
        widgets = {"reply_text": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, team=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = Channel.objects.for_team(team).filter(
            kind__in=["line", "facebook", "instagram", "whatsapp"]
        )
        self.fields["channel"].empty_label = _("所有渠道")
        self.fields["reply_module"].queryset = ChatbotModule.objects.for_team(team).alive()

    def clean(self):
        data = super().clean()
        if (
            not data.get("reply_text", "").strip()
            and not data.get("reply_module")
            and not (data.get("assign_staff") or data.get("assign_branch") or data.get("tags"))
        ):
            raise forms.ValidationError(_("請設定回覆內容、指派或標籤其中之一。"))
        return data


class ReplyForm(forms.Form):
    text = forms.CharField(label=_("回覆"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class ExportForm(forms.Form):
    start = forms.DateField(label=_("開始日期"))
    end = forms.DateField(label=_("結束日期"))

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                self.add_error("end", _("結束日期不可早於開始日期。"))
            elif (end - start).days > 90:
                self.add_error("end", _("時間區間最長 90 天。"))
        return data
