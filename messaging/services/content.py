"""Message content: validating chatbot modules and rendering outbox content to each platform's format.

Content JSON accepted by the outbox: {"type": "module", "module_id": N}, {"type": "whatsapp_template",
"template_id": N, "parameters": [...]}, {"type": "text", "text": "..."}.

Module content (per type):
- text_buttons:   {"text", "buttons": [{"label", "url"} | {"label", "data"}]}
- carousel:       {"cards": [{"image_url", "title", "text", "buttons": [...]}]}
- image_carousel: {"cards": [{"image_url", "button": {"label", "url"}}]}
- image_map:      {"image_url", "alt_text", "width", "height", "areas": [{"x", "y", "width", "height", "url"}]}
- coupon_card:    {"title", "text", "image_url", "code", "button": {"label", "url"}}

Tracking (seed 003): every button / area URL is rewritten to /r/<token> (one token per send and target), so a
click is counted once per send; URLs inside plain text are left alone and never counted. LINE opens: each
module is rendered as a Flex or imagemap message whose images are served through /o/<token> (the real image
is a redirect away; text-with-buttons carries a 1×1 pixel). LINE's app loads those images when the customer
opens the chat, which marks the send opened once. Plain text cannot be tracked, as the seed says.
"""

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from ..models import ChatbotModule, ModuleType, TemplateStatus, WhatsAppTemplate
from .tracking_urls import click_url, open_url


class ContentError(Exception):
    """The content cannot be sent (deleted module, unapproved template, unsupported on the platform)."""

    def __init__(self, code, reason):
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass
class Rendered:
    payload: dict
    trackable: bool = False
    urls: list = field(default_factory=list)
    images: list = field(default_factory=list)
    preview: str = ""


# --------------------------------------------------------------------------------------------- validation
def _is_url(value):
    return isinstance(value, str) and value.startswith(("https://", "http://"))


def _check_button(button, path, errors):
    if not isinstance(button, dict) or not str(button.get("label", "")).strip():
        errors[f"{path}.label"] = _("按鈕需要文字。")
        return
    if "url" in button and not _is_url(button["url"]):
        errors[f"{path}.url"] = _("請輸入 http(s) 網址。")
    if "url" not in button and not str(button.get("data", "")).strip():
        errors[f"{path}.url"] = _("按鈕需要網址或回傳資料。")


def validate_module_content(module_type, content):
    """Raise ValidationError keyed by the JSON path of the wrong field (e.g. 'content.cards[0].image_url')."""
    errors = {}
    if not isinstance(content, dict):
        raise ValidationError({"content": _("內容必須是 JSON 物件。")})
    if module_type == ModuleType.TEXT_BUTTONS:
        if not str(content.get("text", "")).strip():
            errors["content.text"] = _("請輸入文字。")
        buttons = content.get("buttons")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 4:
            errors["content.buttons"] = _("需要 1 到 4 個按鈕。")
        else:
            for i, button in enumerate(buttons):
                _check_button(button, f"content.buttons[{i}]", errors)
    elif module_type in (ModuleType.CAROUSEL, ModuleType.IMAGE_CAROUSEL):
        cards = content.get("cards")
        if not isinstance(cards, list) or not 1 <= len(cards) <= 10:
            errors["content.cards"] = _("需要 1 到 10 張卡片。")
        else:
            for i, card in enumerate(cards):
                if not isinstance(card, dict) or not _is_url(card.get("image_url")):
                    errors[f"content.cards[{i}].image_url"] = _("請輸入圖片網址。")
                    continue
                if module_type == ModuleType.CAROUSEL:
                    if not str(card.get("title", "")).strip():
                        errors[f"content.cards[{i}].title"] = _("請輸入標題。")
                    for j, button in enumerate(card.get("buttons") or []):
                        _check_button(button, f"content.cards[{i}].buttons[{j}]", errors)
                elif card.get("button"):
                    _check_button(card["button"], f"content.cards[{i}].button", errors)
    elif module_type == ModuleType.IMAGE_MAP:
        if not _is_url(content.get("image_url")):
            errors["content.image_url"] = _("請輸入圖片網址。")
        areas = content.get("areas")
        if not isinstance(areas, list) or not areas:
            errors["content.areas"] = _("至少需要一個點擊區域。")
        else:
            for i, area in enumerate(areas):
                if not isinstance(area, dict) or not _is_url(area.get("url")):
                    errors[f"content.areas[{i}].url"] = _("請輸入 http(s) 網址。")
    elif module_type == ModuleType.COUPON_CARD:
        for key in ("title", "code"):
            if not str(content.get(key, "")).strip():
                errors[f"content.{key}"] = _("此欄位必填。")
        if content.get("image_url") and not _is_url(content["image_url"]):
            errors["content.image_url"] = _("請輸入圖片網址。")
        if content.get("button"):
            _check_button(content["button"], "content.button", errors)
    else:
        errors["type"] = _("未知的模組類型。")
    if errors:
        raise ValidationError(errors)


def validate_outbox_content(team, channel, content):
    """Check outbox content before enqueueing; raise ValidationError keyed by field."""
    if not isinstance(content, dict):
        raise ValidationError({"content": _("內容必須是 JSON 物件。")})
    kind = content.get("type")
    if kind == "text":
        if not str(content.get("text", "")).strip():
            raise ValidationError({"content.text": _("請輸入文字。")})
    elif kind == "module":
        if not ChatbotModule.objects.for_team(team).alive().filter(pk=content.get("module_id")).exists():
            raise ValidationError({"content.module_id": _("找不到此機器人模組。")})
    elif kind == "whatsapp_template":
        template = WhatsAppTemplate.objects.for_team(team).alive().filter(pk=content.get("template_id")).first()
        if template is None:
            raise ValidationError({"content.template_id": _("找不到此 WhatsApp 範本。")})
        params = content.get("parameters") or []
        if not isinstance(params, list) or len(params) != template.parameter_count:
            raise ValidationError(
                {"content.parameters": _("此範本需要 %(n)d 個參數。") % {"n": template.parameter_count}}
            )
    else:
        raise ValidationError({"content.type": _("內容類型必須是 text、module 或 whatsapp_template。")})


# ---------------------------------------------------------------------------------------------- rendering
class _Links:
    def __init__(self, message_id):
        self.message_id = message_id
        self.urls = []
        self.images = []

    def click(self, url):
        self.urls.append(url)
        return click_url(self.message_id, len(self.urls) - 1)

    def image(self, url):
        self.images.append(url)
        return open_url(self.message_id, len(self.images) - 1)


PIXEL = "pixel"  # images entry meaning "serve the 1×1 transparent PNG"


def load_content(message):
    """Resolve module / template references of an outbox row, raising ContentError when unusable."""
    content = message.content or {}
    kind = content.get("type")
    if kind == "text":
        return "text", content.get("text", "")
    if kind == "module":
        module = ChatbotModule.objects.filter(team_id=message.team_id, pk=content.get("module_id")).first()
        if module is None or module.deleted_at:
            raise ContentError("module_deleted", "chatbot module deleted")
        return "module", module
    if kind == "whatsapp_template":
        template = WhatsAppTemplate.objects.filter(team_id=message.team_id, pk=content.get("template_id")).first()
        if template is None or template.deleted_at:
            raise ContentError("template_deleted", "WhatsApp template deleted")
        if template.status != TemplateStatus.APPROVED:
            raise ContentError("template_unusable", f"WhatsApp template {template.status}")
        return "template", template
    raise ContentError("bad_content", f"unknown content type {kind!r}")


def render(message, channel_kind):
    kind, value = load_content(message)
    links = _Links(message.pk)
    if channel_kind == "whatsapp":
        return _render_whatsapp(kind, value, message)
    if kind == "template":
        raise ContentError("unsupported", "WhatsApp templates can only be sent on WhatsApp")
    if kind == "text":
        text = value
        if channel_kind == "line":
            payload = {"messages": [{"type": "text", "text": text}]}
        else:
            payload = {"message": {"text": text}}
        return Rendered(payload=payload, preview=text[:300])
    module = value
    if channel_kind == "line":
        message_json = _line_module(module, links)
        rendered = Rendered(payload={"messages": [message_json]}, trackable=True)
    elif channel_kind in ("facebook", "instagram"):
        rendered = Rendered(payload={"message": _meta_module(module, links)})
    else:
        raise ContentError("unsupported", f"chatbot modules cannot be sent on {channel_kind}")
    rendered.urls, rendered.images = links.urls, links.images
    rendered.preview = f"[{module.get_type_display()}] {module.name}"[:300]
    return rendered


def _render_whatsapp(kind, value, message):
    if kind == "text":
        return Rendered(payload={"type": "text", "text": {"body": value}}, preview=value[:300])
    if kind == "template":
        params = (message.content or {}).get("parameters") or []
        template = {"name": value.name, "language": {"code": value.language}}
        if params:
            template["components"] = [
                {"type": "body", "parameters": [{"type": "text", "text": str(p)} for p in params]}
            ]
        preview = f"[{value.name}] {value.body}"[:300]
        return Rendered(payload={"type": "template", "template": template}, preview=preview)
    raise ContentError("unsupported", "WhatsApp takes text or templates, not chatbot modules")


def _line_action(button, links):
    if button.get("url"):
        return {"type": "uri", "label": button["label"][:20], "uri": links.click(button["url"])}
    return {"type": "postback", "label": button["label"][:20], "data": str(button.get("data", ""))[:300]}


def _line_bubble(*, image, title, text, buttons, links):
    bubble = {"type": "bubble"}
    if image:
        bubble["hero"] = {
            "type": "image",
            "url": links.image(image),
            "size": "full",
            "aspectMode": "cover",
            "aspectRatio": "20:13",
        }
    body = []
    if title:
        body.append({"type": "text", "text": title, "weight": "bold", "size": "lg", "wrap": True})
    if text:
        body.append({"type": "text", "text": text, "wrap": True})
    if not image:
        body.append({"type": "image", "url": links.image(PIXEL), "size": "xxs", "aspectRatio": "1:1"})
    bubble["body"] = {"type": "box", "layout": "vertical", "contents": body}
    if buttons:
        bubble["footer"] = {
            "type": "box",
            "layout": "vertical",
            "spacing": "sm",
            "contents": [{"type": "button", "style": "link", "action": _line_action(b, links)} for b in buttons],
        }
    return bubble


def _line_module(module, links):
    c, t = module.content, module.type
    alt = str(c.get("alt_text") or module.name)[:400]
    if t == ModuleType.TEXT_BUTTONS:
        contents = _line_bubble(image=None, title="", text=c["text"], buttons=c.get("buttons"), links=links)
    elif t == ModuleType.CAROUSEL:
        bubbles = [
            _line_bubble(
                image=card["image_url"],
                title=card.get("title", ""),
                text=card.get("text", ""),
                buttons=card.get("buttons"),
                links=links,
            )
            for card in c["cards"]
        ]
        contents = {"type": "carousel", "contents": bubbles}
    elif t == ModuleType.IMAGE_CAROUSEL:
        bubbles = []
        for card in c["cards"]:
            hero = {"type": "image", "url": links.image(card["image_url"]), "size": "full", "aspectMode": "cover"}
            if card.get("button", {}).get("url"):
                hero["action"] = {"type": "uri", "uri": links.click(card["button"]["url"])}
            bubbles.append({"type": "bubble", "size": "micro", "hero": hero})
        contents = {"type": "carousel", "contents": bubbles}
    elif t == ModuleType.IMAGE_MAP:
        width, height = int(c.get("width") or 1040), int(c.get("height") or 1040)
        base = links.image(c["image_url"])
        actions = [
            {
                "type": "uri",
                "linkUri": links.click(area["url"]),
                "area": {k: int(area.get(k, 0)) for k in ("x", "y", "width", "height")},
            }
            for area in c["areas"]
        ]
        return {
            "type": "imagemap",
            "baseUrl": base,
            "altText": alt,
            "baseSize": {"width": width, "height": height},
            "actions": actions,
        }
    elif t == ModuleType.COUPON_CARD:
        text = "\n".join(filter(None, [c.get("text", ""), f"{_('優惠碼')}: {c['code']}"]))
        buttons = [c["button"]] if c.get("button") else []
        contents = _line_bubble(image=c.get("image_url"), title=c["title"], text=text, buttons=buttons, links=links)
    else:
        raise ContentError("bad_content", f"unknown module type {t}")
    return {"type": "flex", "altText": alt, "contents": contents}


def _meta_button(button, links):
    if button.get("url"):
        return {"type": "web_url", "url": links.click(button["url"]), "title": button["label"][:20]}
    return {"type": "postback", "title": button["label"][:20], "payload": str(button.get("data", ""))[:1000]}


def _meta_module(module, links):
    c, t = module.content, module.type
    if t == ModuleType.TEXT_BUTTONS:
        payload = {
            "template_type": "button",
            "text": c["text"][:640],
            "buttons": [_meta_button(b, links) for b in c["buttons"][:3]],
        }
        return {"attachment": {"type": "template", "payload": payload}}
    if t in (ModuleType.CAROUSEL, ModuleType.IMAGE_CAROUSEL):
        elements = []
        for card in c["cards"]:
            buttons = card.get("buttons") or ([card["button"]] if card.get("button") else [])
            element = {"title": (card.get("title") or module.name)[:80], "image_url": card["image_url"]}
            if card.get("text"):
                element["subtitle"] = card["text"][:80]
            if buttons:
                element["buttons"] = [_meta_button(b, links) for b in buttons[:3]]
            elements.append(element)
        return {"attachment": {"type": "template", "payload": {"template_type": "generic", "elements": elements}}}
    if t == ModuleType.IMAGE_MAP:
        buttons = [{"label": module.name, "url": area["url"]} for area in c["areas"][:3]]
        element = {
            "title": module.name[:80],
            "image_url": c["image_url"],
            "buttons": [_meta_button(b, links) for b in buttons],
        }
        return {"attachment": {"type": "template", "payload": {"template_type": "generic", "elements": [element]}}}
    if t == ModuleType.COUPON_CARD:
        element = {"title": c["title"][:80], "subtitle": f"{c.get('text', '')} {_('優惠碼')}: {c['code']}".strip()[:80]}
        if c.get("image_url"):
            element["image_url"] = c["image_url"]
        if c.get("button"):
            element["buttons"] = [_meta_button(c["button"], links)]
        return {"attachment": {"type": "template", "payload": {"template_type": "generic", "elements": [element]}}}
    raise ContentError("bad_content", f"unknown module type {t}")
