import re

from django import forms
from django.utils.translation import gettext_lazy as _

from . import exports
from .models import AttributeType, Channel, ChannelKind, CustomAttribute, ImportKind, OmoKind, OmoMember, Tag

MAX_UPLOAD_BYTES = 200 * 1024 * 1024
KEY_RE = re.compile(r"^[A-Za-z0-9_]+$")


class TagForm(forms.Form):
    name = forms.CharField(label=_("標籤名稱"), max_length=100)

    def __init__(self, *args, team, instance=None, **kwargs):
        self.team, self.instance = team, instance
        super().__init__(*args, **kwargs)

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        clash = Tag.objects.for_team(self.team).filter(name=name)
        if self.instance:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise forms.ValidationError(_("已經有名為「%(name)s」的標籤。"), params={"name": name})
        return name


class AttributeForm(forms.Form):
    key = forms.CharField(label=_("屬性代碼"), max_length=64, help_text=_("英文字母、數字與底線，區分大小寫。"))
    label = forms.CharField(label=_("顯示名稱"), max_length=120)
    type = forms.ChoiceField(label=_("類型"), choices=AttributeType.choices)

    def __init__(self, *args, team, **kwargs):
        self.team = team
        super().__init__(*args, **kwargs)

    def clean_key(self):
        key = self.cleaned_data["key"].strip()
        if not KEY_RE.match(key):
            raise forms.ValidationError(_("屬性代碼只能包含英文字母、數字與底線。"))
        if CustomAttribute.objects.for_team(self.team).filter(key=key).exists():
            raise forms.ValidationError(_("屬性代碼 %(key)s 已存在。"), params={"key": key})
        return key


class AttributeLabelForm(forms.Form):
    label = forms.CharField(label=_("顯示名稱"), max_length=120)


class AttributeTypeForm(forms.Form):
    type = forms.ChoiceField(label=_("新類型"), choices=AttributeType.choices)
    confirm = forms.BooleanField(label=_("我了解使用此屬性的顧客旅程將會停止"), required=True)


class ExportForm(forms.Form):
    fields = forms.MultipleChoiceField(
        label=_("匯出欄位"), choices=exports.FIELD_CHOICES, required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, team, **kwargs):
        super().__init__(*args, **kwargs)
        attribute_choices = [
            (f"attr:{a.key}", a.label) for a in CustomAttribute.objects.for_team(team).active().order_by("key")
        ]
        self.fields["fields"].choices = list(exports.FIELD_CHOICES) + attribute_choices
        self.fields["fields"].initial = exports.DEFAULT_FIELDS

    def clean_fields(self):
        return self.cleaned_data["fields"] or list(exports.DEFAULT_FIELDS)


class ImportUploadForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("匯入類型"),
        choices=ImportKind.choices,
        initial=ImportKind.CUSTOMERS,
        required=False,  # a form posted without it (an older page) imports customers
        widget=forms.RadioSelect,
    )
    file = forms.FileField(label=_("CSV 檔案"), help_text=_("UTF-8（含或不含 BOM，Excel 另存的 CSV 皆可）。"))
    channel = forms.ModelChoiceField(
        label=_("匯入到"),
        queryset=Channel.objects.none(),
        required=False,
        empty_label=_("依會員編號（不指定渠道）"),
        help_text=_("僅用於顧客資料匯入。"),
    )

    def __init__(self, *args, team, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = Channel.objects.for_team(team).active()

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(_("檔案太大（上限 200 MB）。"))
        if upload.size == 0:
            raise forms.ValidationError(_("檔案是空的。"))
        return upload

    def clean_kind(self):
        return self.cleaned_data["kind"] or ImportKind.CUSTOMERS

    def clean(self):
        if self.cleaned_data.get("kind") == ImportKind.POINTS and self.cleaned_data.get("channel"):
            self.add_error("channel", _("社群點數以會員編號、電話或 Email 對應既有顧客，請勿選擇渠道。"))
        return self.cleaned_data


def key_label(job):
    if job.channel is None:
        return _("會員編號")
    if job.channel.kind == ChannelKind.WHATSAPP:
        return _("WhatsApp 電話號碼")
    if job.channel.kind == ChannelKind.LINE:
        return _("LINE UID")
    return _("渠道 ID")


def check_targets_once(targets):
    """A mapping names each target (but ignore) for one column at most."""
    used = [t for t in targets if t]
    duplicates = sorted({t for t in used if used.count(t) > 1})
    if duplicates:
        raise forms.ValidationError(_("同一個目標只能對應一個欄位：%(t)s"), params={"t": ", ".join(duplicates)})


class MappingForm(forms.Form):
    """One select per CSV column: the key column, name / phone / email, tags, an attribute, or ignore."""

    def __init__(self, data, *, job, headers, attributes):
        super().__init__(data)
        self.job, self.headers = job, headers
        choices = [("", _("（略過）")), ("key", key_label(job))]
        choices += [("name", _("姓名")), ("phone", _("電話")), ("email", "Email"), ("tags", _("標籤（以逗號分隔）"))]
        if job.channel is not None:  # a chat-history export (WhatsApp): number, name, last message time
            choices += [("last_message_at", _("最後訊息時間"))]
        choices += [(f"attr:{a.key}", _("自訂屬性：%(label)s") % {"label": a.label}) for a in attributes]
        for index, header in enumerate(headers):
            self.fields[f"col_{index}"] = forms.ChoiceField(
                label=header, choices=choices, required=False, initial=_guess(header, job, attributes)
            )

    def clean(self):
        targets = [self.cleaned_data.get(f"col_{i}") for i in range(len(self.headers))]
        if targets.count("key") != 1:
            raise forms.ValidationError(_("請指定一個「%(key)s」欄位。"), params={"key": key_label(self.job)})
        check_targets_once([t for t in targets if t != "tags"])
        return self.cleaned_data

    def mapping(self):
        columns = {h: self.cleaned_data.get(f"col_{i}") or "" for i, h in enumerate(self.headers)}
        key_column = next(h for h, target in columns.items() if target == "key")
        if self.job.channel is None:
            key_kind = "member_id"
        elif self.job.channel.kind == ChannelKind.WHATSAPP:
            key_kind = "phone"
        else:
            key_kind = "external_id"
        return {
            "key_column": key_column,
            "key_kind": key_kind,
            "columns": {h: t for h, t in columns.items() if t and t != "key"},
        }


GUESSES = {
    "key": {"uid", "line uid", "line_uid", "psid", "igsid", "member_id", "會員編號", "member id", "openid", "渠道 id"},
    "name": {"name", "姓名", "名稱", "display_name"},
    "phone": {"phone", "電話", "手機", "mobile", "whatsapp", "number", "號碼", "電話號碼"},
    "email": {"email", "e-mail", "電子郵件"},
    "tags": {"tags", "tag", "標籤"},
    "last_message_at": {"last message time", "last_message_at", "最後訊息時間", "last message"},
}


def _guess(header, job, attributes):
    text = header.strip().lower()
    if job.channel is not None and job.channel.kind == ChannelKind.WHATSAPP and text in GUESSES["phone"]:
        return "key"
    for target, names in GUESSES.items():
        if text in names:
            return target
    for attribute in attributes:
        if text in (attribute.key.lower(), attribute.label.lower()):
            return f"attr:{attribute.key}"
    return ""


POINTS_GUESSES = {
    "member_id": {"member_id", "member id", "會員編號"},
    "phone": GUESSES["phone"],
    "email": GUESSES["email"],
    "points": {"points", "point", "點數", "社群點數"},
    "reason": {"reason", "原因", "備註", "note"},
}
REFERENCE_TARGETS = ("member_id", "phone", "email")  # the customer reference, in the order that picks the key


class PointsMappingForm(forms.Form):
    """A points file (社群點數): one select per column: the customer reference (member id, phone, email), the
    points, the reason, or ignore."""

    def __init__(self, data, *, job, headers):
        super().__init__(data)
        self.job, self.headers = job, headers
        choices = [("", _("（略過）")), ("member_id", _("會員編號")), ("phone", _("電話")), ("email", "Email")]
        choices += [("points", _("點數（正數加點、負數扣點）")), ("reason", _("原因"))]
        for index, header in enumerate(headers):
            guess = next((t for t, names in POINTS_GUESSES.items() if header.strip().lower() in names), "")
            self.fields[f"col_{index}"] = forms.ChoiceField(
                label=header, choices=choices, required=False, initial=guess
            )

    def clean(self):
        targets = [self.cleaned_data.get(f"col_{i}") for i in range(len(self.headers))]
        if not any(t in REFERENCE_TARGETS for t in targets):
            raise forms.ValidationError(_("請指定對應顧客的欄位：會員編號、電話或 Email。"))
        if "points" not in targets:
            raise forms.ValidationError(_("請指定「點數」欄位。"))
        check_targets_once(targets)
        return self.cleaned_data

    def mapping(self):
        """The key column is the first reference of member id, phone, email; the others are columns."""
        columns = {h: self.cleaned_data.get(f"col_{i}") for i, h in enumerate(self.headers)}
        key_kind = next(t for t in REFERENCE_TARGETS if t in columns.values())
        key_column = next(h for h, target in columns.items() if target == key_kind)
        return {
            "key_column": key_column,
            "key_kind": key_kind,
            "columns": {h: t for h, t in columns.items() if t and h != key_column},
        }


def mapping_form_for(job, preview, data=None):
    if job.kind == ImportKind.POINTS:
        return PointsMappingForm(data, job=job, headers=preview.headers)
    attributes = list(CustomAttribute.objects.for_team(job.team).active().order_by("key"))
    return MappingForm(data, job=job, headers=preview.headers, attributes=attributes)


class OmoMemberForm(forms.Form):
    kind = forms.ChoiceField(label=_("類型"), choices=OmoKind.choices)
    name = forms.CharField(label=_("名稱"), max_length=120)


class OmoAddCustomerForm(forms.Form):
    """手動新增客戶: a staff member adds a customer (a WhatsApp number, or the contact's channel id)."""

    member = forms.ModelChoiceField(label=_("綁定成員（分店）"), queryset=OmoMember.objects.none())
    channel = forms.ModelChoiceField(label=_("渠道"), queryset=Channel.objects.none())
    external_id = forms.CharField(label=_("電話號碼或渠道 ID"), max_length=128)
    display_name = forms.CharField(label=_("名稱"), max_length=200, required=False)

    def __init__(self, *args, team=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["member"].queryset = OmoMember.objects.for_team(team).filter(is_active=True)
        self.fields["channel"].queryset = Channel.objects.for_team(team).active().exclude(kind="sms")
