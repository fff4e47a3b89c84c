"""A marketer's form for each chatbot module type: plain fields (text, image URLs, button rows), turned into
the module's content JSON and checked by messaging.services.content.validate_module_content."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from core.params import parse_id

from .models import ModuleType
from .services.content import validate_module_content

ROWS = {
    ModuleType.TEXT_BUTTONS: ("buttons", 4),
    ModuleType.CAROUSEL: ("cards", 5),
    ModuleType.IMAGE_CAROUSEL: ("cards", 5),
    ModuleType.IMAGE_MAP: ("areas", 4),
}
ROW_FIELDS = {
    ModuleType.TEXT_BUTTONS: [("label", _("按鈕文字")), ("url", _("按鈕連結"))],
    ModuleType.CAROUSEL: [
        ("image_url", _("圖片網址")),
        ("title", _("標題")),
        ("text", _("說明")),
        ("label", _("按鈕文字")),
        ("url", _("按鈕連結")),
    ],
    ModuleType.IMAGE_CAROUSEL: [("image_url", _("圖片網址")), ("label", _("按鈕文字")), ("url", _("按鈕連結"))],
    ModuleType.IMAGE_MAP: [("x", "X"), ("y", "Y"), ("width", _("寬")), ("height", _("高")), ("url", _("連結"))],
}
TOP_FIELDS = {
    ModuleType.TEXT_BUTTONS: [("text", _("訊息文字"), True)],
    ModuleType.CAROUSEL: [],
    ModuleType.IMAGE_CAROUSEL: [],
    ModuleType.IMAGE_MAP: [("image_url", _("圖片網址"), True), ("alt_text", _("替代文字"), False)],
    ModuleType.COUPON_CARD: [
        ("title", _("標題"), True),
        ("text", _("說明"), False),
        ("code", _("優惠碼"), True),
        ("image_url", _("圖片網址"), False),
        ("button_label", _("按鈕文字"), False),
        ("button_url", _("按鈕連結"), False),
    ],
}
NUMERIC = {"x", "y", "width", "height"}


class ModuleForm(forms.Form):
    name = forms.CharField(label=_("模組名稱"), max_length=200)

    def __init__(self, *args, module_type, content=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.module_type = module_type
        content = content or {}
        for key, label, _required in TOP_FIELDS[module_type]:
            widget = forms.Textarea(attrs={"rows": 3}) if key == "text" else None
            self.fields[key] = forms.CharField(label=label, required=False, widget=widget)
        if module_type == ModuleType.COUPON_CARD:
            button = content.get("button") or {}
            self.initial.update({k: content.get(k, "") for k in ("title", "text", "code", "image_url")})
            self.initial.update({"button_label": button.get("label", ""), "button_url": button.get("url", "")})
        else:
            self.initial.update({k: content.get(k, "") for k, _label, _r in TOP_FIELDS[module_type]})
        self.rows = []
        if module_type in ROWS:
            key, count = ROWS[module_type]
            existing = content.get(key) or []
            for i in range(count):
                names = []
                for field, label in ROW_FIELDS[module_type]:
                    name = f"{key}-{i}-{field}"
                    self.fields[name] = forms.CharField(label=f"{label} {i + 1}", required=False)
                    names.append(name)
                    if i < len(existing):
                        self.initial[name] = _row_value(module_type, existing[i], field)
                self.rows.append(names)

    def row_fields(self):
        return [[self[name] for name in names] for names in self.rows]

    def top_fields(self):
        return [self[key] for key, _label, _r in TOP_FIELDS[self.module_type]]

    def content(self):
        data = self.cleaned_data
        t = self.module_type
        content = {k: data.get(k, "").strip() for k, _label, _r in TOP_FIELDS[t] if data.get(k, "").strip()}
        if t == ModuleType.COUPON_CARD:
            label, url = content.pop("button_label", ""), content.pop("button_url", "")
            if label or url:
                content["button"] = {"label": label, "url": url}
        if t in ROWS:
            key, _count = ROWS[t]
            items = []
            for names in self.rows:
                values = {n.rsplit("-", 1)[1]: (data.get(n) or "").strip() for n in names}
                if any(values.values()):
                    items.append(_row_content(t, values))
            content[key] = items
        return content

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            validate_module_content(self.module_type, self.content())
        except ValidationError as exc:
            for path, errors in exc.message_dict.items():
                self.add_error(_field_for(self.module_type, path, self.fields), errors)
        return data


def _row_value(module_type, item, field):
    if field in ("label", "url") and module_type != ModuleType.TEXT_BUTTONS and module_type != ModuleType.IMAGE_MAP:
        button = item.get("button") or ((item.get("buttons") or [{}])[0])
        return button.get(field, "")
    return item.get(field, "")


def _row_content(module_type, values):
    if module_type == ModuleType.TEXT_BUTTONS:
        return {"label": values["label"], "url": values["url"]}
    if module_type == ModuleType.IMAGE_MAP:
        area = {"url": values["url"]}
        for k in NUMERIC:
            area[k] = parse_id(values[k]) or 0
        return area
    button = {"label": values["label"], "url": values["url"]} if values["label"] or values["url"] else None
    card = {"image_url": values["image_url"]}
    if module_type == ModuleType.CAROUSEL:
        card.update(title=values["title"], text=values["text"], buttons=[button] if button else [])
    elif button:
        card["button"] = button
    return card


def _field_for(module_type, path, fields):
    """Map a content JSON path ('content.cards[1].image_url') to the form field showing it (or None)."""
    import re

    path = path.removeprefix("content.")
    match = re.match(r"(\w+)\[(\d+)\](?:\.(?:buttons\[\d+\]|button))?\.?(\w+)?", path)
    if match:
        key, index, leaf = match.group(1), match.group(2), match.group(3) or ""
        name = f"{key}-{index}-{leaf}"
        if name in fields:
            return name
        return None
    if path == "button.label" and "button_label" in fields:
        return "button_label"
    if path == "button.url" and "button_url" in fields:
        return "button_url"
    return path if path in fields else None
