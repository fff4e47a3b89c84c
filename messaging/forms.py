from django import forms
from django.core.exceptions import ValidationError
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from cdp import credentials as credential_keys
from cdp.models import Channel, ChannelKind
from cdp.services.channels import validate_credentials

from .models import ChatbotModule, CommentRule, KeywordRule
from .services.content import reply_module_error
from .services.conversations import agent_label

# The channel kinds the console's channel page connects and lists (the website has its own place).
MESSAGING_KINDS = [
    (k, label)
    for k, label in ChannelKind.choices
    if k in ("line", "facebook", "instagram", "whatsapp", "wechat", "sms")
]


def _credential_fields(kinds):
    """One form field per credential key of these kinds (cdp.credentials), except the account id (the
    form's external_id field) and generated keys; secrets are password inputs and never shown back.
    A key name several kinds use under different labels (`username`: IG 使用者名稱, 三竹帳號) gets one label per
    kind, each marked with its kind (`data-kinds`) so the connect form shows the chosen kind's words only."""
    fields, labels = {}, {}
    for kind in kinds:
        for key in credential_keys.keys(kind):
            if key.external_id or key.generated:
                continue
            labels.setdefault(key.name, {}).setdefault(str(key.label), []).append(kind)
            if key.name in fields:
                continue
            widget = forms.PasswordInput if key.secret else forms.TextInput
            fields[key.name] = forms.CharField(label=key.label, required=False, max_length=2000, widget=widget)
    for name, by_label in labels.items():
        if len(by_label) > 1:
            fields[name].label = format_html_join(
                "", '<span data-kinds="{}">{}</span>', ((" ".join(ks), label) for label, ks in by_label.items())
            )
    return fields


def _credentials_of(kind, data, external_id=""):
    """The form's values for this kind's keys (blank ones left out), the account id under its key."""
    values = {key.name: data.get(key.name) for key in credential_keys.keys(kind) if data.get(key.name)}
    id_key = credential_keys.external_id_key(kind)
    if id_key and external_id:
        values[id_key] = external_id
    return values


def _add_service_errors(form, kind, exc):
    """cdp's "credentials.<key>" errors shown beside the field of that key."""
    id_key = credential_keys.external_id_key(kind)
    for key, messages in exc.message_dict.items():
        name = key.removeprefix("credentials.")
        field = "external_id" if name == id_key else name
        for message in messages:
            form.add_error(field if field in form.fields else None, message)


class ChannelForm(forms.Form):
    kind = forms.ChoiceField(label=_("渠道類型"), choices=MESSAGING_KINDS)
    name = forms.CharField(label=_("名稱"), max_length=200)
    external_id = forms.CharField(
        label=_("平台帳號 ID"),
        max_length=128,
        required=False,
        help_text=_("LINE Bot user ID、粉絲專頁 ID、IG 帳號 ID、WhatsApp phone_number_id 或 WeChat AppID。"),
    )
    is_sandbox = forms.BooleanField(label=_("沙盒渠道（免憑證，模擬發送）"), required=False)

    def __init__(self, *args, team=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.team = team
        self.fields.update(_credential_fields([kind for kind, _label in MESSAGING_KINDS]))

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if not kind:
            return data
        try:
            validate_credentials(kind, self.credentials(), partial=bool(data.get("is_sandbox")))
        except ValidationError as exc:
            _add_service_errors(self, kind, exc)
        ext = data.get("external_id")
        if ext and Channel.objects.filter(team=self.team, kind=kind, external_id=ext).exists():
            self.add_error("external_id", _("這個帳號已經連結。"))
        return data

    def credentials(self):
        data = self.cleaned_data
        return _credentials_of(data.get("kind"), data, data.get("external_id", ""))

    def rows(self):
        """(bound field, the kinds it belongs to as "line whatsapp", or "" for every kind): the page shows a
        credential field only while its kind is chosen."""
        kinds_of = {}
        for kind, _label in MESSAGING_KINDS:
            if credential_keys.external_id_key(kind):
                kinds_of.setdefault("external_id", []).append(kind)
            for key in credential_keys.keys(kind):
                kinds_of.setdefault(key.name, []).append(kind)
        return [(field, " ".join(kinds_of.get(field.name, []))) for field in self]

    def add_service_errors(self, exc):
        _add_service_errors(self, self.cleaned_data.get("kind"), exc)


class CredentialsForm(forms.Form):
    """Replace some of a channel's credentials; blank fields keep what is stored."""

    def __init__(self, *args, channel, **kwargs):
        super().__init__(*args, **kwargs)
        self.channel = channel
        self.fields.update(_credential_fields([channel.kind]))

    def credentials(self):
        return _credentials_of(self.channel.kind, self.cleaned_data)

    def add_service_errors(self, exc):
        _add_service_errors(self, self.channel.kind, exc)


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
            "starts_phone_binding",
            "is_active",
        ]
        widgets = {"reply_text": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, team=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = Channel.objects.for_team(team).filter(
            kind__in=["line", "facebook", "instagram", "whatsapp", "wechat"]
        )
        self.fields["channel"].empty_label = _("所有渠道")
        self.fields["reply_module"].queryset = ChatbotModule.objects.for_team(team).alive()
        self.fields["reply_module"].empty_label = "—"
        self.team = team

    def clean(self):
        data = super().clean()
        error = reply_module_error(self.team, data.get("channel"), data.get("reply_module"))
        if error:
            self.add_error("reply_module", error)
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


class QuickSmsForm(forms.Form):
    text = forms.CharField(
        label=_("簡訊內容"), max_length=1000, widget=forms.Textarea(attrs={"rows": 3, "data-testid": "sms-text"})
    )


class InboxFilterForm(forms.Form):
    """The inbox list's search and filters (GET); bad values are dropped, never an error page."""

    q = forms.CharField(label=_("搜尋"), required=False, max_length=100)
    channel = forms.ModelChoiceField(label=_("渠道"), queryset=Channel.objects.none(), required=False)
    unread = forms.BooleanField(label=_("只看未讀"), required=False)
    assignee = forms.ChoiceField(
        label=_("負責人"),
        required=False,
        choices=[("", _("所有負責人")), ("me", _("指派給我")), ("none", _("未指派"))],
    )

    def __init__(self, *args, team=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = Channel.objects.for_team(team).filter(
            kind__in=[kind for kind, _label in MESSAGING_KINDS]
        )
        self.fields["channel"].empty_label = _("所有渠道")
        self.fields["channel"].label_from_instance = lambda channel: channel.name
        self.fields["q"].widget.attrs.update({"placeholder": _("搜尋名稱、電話或訊息"), "type": "search"})

    def filters(self):
        self.is_valid()  # a field with a bad value is left out of cleaned_data, i.e. not filtered on
        return {key: self.cleaned_data.get(key) for key in self.fields}


class AssignForm(forms.Form):
    """Assign a conversation: one of the team's agents, or nobody."""

    assignee = forms.ChoiceField(label=_("負責人"), required=False)

    def __init__(self, *args, agents=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.agents = {str(user.pk): user for user in agents}
        self.fields["assignee"].choices = [("", _("未指派"))] + [(pk, agent_label(u)) for pk, u in self.agents.items()]

    def chosen(self):
        return self.agents.get(self.cleaned_data.get("assignee") or "")


class CommentRuleForm(forms.ModelForm):
    keywords = ListField(label=_("關鍵字"), required=False, help_text=_("以逗號分隔多個關鍵字。"))

    class Meta:
        model = CommentRule
        fields = ["name", "channel", "any_comment", "keywords", "match_type", "reply_text", "is_active"]
        widgets = {"reply_text": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, team=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = Channel.objects.for_team(team).filter(kind__in=["facebook", "instagram"])
        self.fields["channel"].empty_label = _("所有 Facebook / Instagram 渠道")

    def clean(self):
        data = super().clean()
        if not data.get("any_comment") and not data.get("keywords"):
            raise forms.ValidationError(_("請輸入關鍵字，或勾選「任何留言都回覆」。"))
        return data


class ManualNumbersForm(forms.Form):
    numbers = forms.CharField(
        label=_("電話號碼"),
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "+886912345678\n0912 345 678"}),
        help_text=_("一行一個，或貼上以逗號分隔的清單；將轉為國際格式（E.164）。"),
    )


class ChatHistoryForm(forms.Form):
    file = forms.FileField(
        label=_("對話歷史記錄 CSV"),
        help_text=_("三個欄位：電話號碼、名稱、最後訊息時間（第一列為標題）。"),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
