"""Message content: validating chatbot modules and rendering outbox content to each platform's format.

Content JSON accepted by the outbox: {"type": "module", "module_id": N}, {"type": "whatsapp_template",
"template_id": N, "parameters": [...]}, {"type": "text", "text": "..."}.

Module content (per type):
- text_buttons:   {"text", "buttons": [{"label", "url"} | {"label", "data"}]}
- carousel:       {"cards": [{"image_url", "title", "text", "buttons": [...]}]}
- image_carousel: {"cards": [{"image_url", "button": {"label", "url"}}]}
- image_map:      {"image_url", "alt_text", "width", "height", "areas": [{"x", "y", "width", "height", "url"}]}
- coupon_card:    {"title", "text", "image_url", "code", "button": {"label", "url"}}

WhatsApp (free-form, so only inside the 24-hour customer-service window; messaging.policy skips anything but
a template outside it). Each module becomes ONE Cloud API message (one request, one wamid, one status trail):
- buttons that send data (postbacks) → interactive reply buttons (≤ 3), or an interactive list (4: WhatsApp
  allows 3 reply buttons; a list's header is text only, so an image is dropped there);
- link buttons only → interactive cta_url (one URL button per message: further links are listed, tracked, as
  "label: link" lines in the body); links beside postback buttons are listed the same way;
- text with buttons → the above; coupon card → the above with the image as header and "優惠碼: code" in the
  body (no button: an image with caption, or text);
- carousel / image carousel of 2–10 cards → interactive carousel when WhatsApp's rule holds (every card an
  image header and the same buttons: one link each, or the same number (≤ 2) of postbacks; the first link of
  a card is used when a card has several). Otherwise (or a single card) a carousel is its first card as a
  message with an image header (above), the other cards' links listed in the body; an image carousel is its
  first image with a caption listing the cards' links (a single card with a link: cta_url with the image);
- image map → WhatsApp has no tappable areas: the image as header of a cta_url message for the first area,
  the other areas listed as numbered tracked links in the body.
Limits applied: body 1024, card body 160, button / link title 20, list row 24, caption 1024 characters.
WhatsApp opens are read statuses, so nothing here carries an open pixel.

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
        elif channel_kind == "sms":
            payload = {"text": text}
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
    links = _Links(message.pk)
    payload = _wa_module(value, links)
    preview = f"[{value.get_type_display()}] {value.name}"[:300]
    return Rendered(payload=payload, urls=links.urls, preview=preview)


WA_BODY, WA_CARD_BODY, WA_TITLE, WA_ROW, WA_CAPTION = 1024, 160, 20, 24, 1024
WA_REPLY_BUTTONS, WA_CARD_REPLIES, WA_CARDS = 3, 2, (2, 10)


def _wa_interactive(kind, body, action, image=None):
    interactive = {"type": kind, "body": {"text": body[:WA_BODY]}, "action": action}
    if image:
        interactive["header"] = {"type": "image", "image": {"link": image}}
    return {"type": "interactive", "interactive": interactive}


def _wa_reply(button):
    return {"type": "reply", "reply": {"id": str(button["data"])[:256], "title": button["label"][:WA_TITLE]}}


def _wa_cta(button, links):
    return {
        "name": "cta_url",
        "parameters": {"display_text": button["label"][:WA_TITLE], "url": links.click(button["url"])},
    }


def _wa_buttons(text, buttons, links, image=None):
    """Text (+ image) with buttons as one WhatsApp message: reply buttons, a list or a cta_url (see above)."""
    buttons = list(buttons or [])
    postbacks = [b for b in buttons if not b.get("url")]
    urls = [b for b in buttons if b.get("url")]
    cta = _wa_cta(urls.pop(0), links) if urls and not postbacks else None
    lines = [text] + [f"{b['label']}: {links.click(b['url'])}" for b in urls]
    body = "\n".join(line for line in lines if line)
    if cta:
        return _wa_interactive("cta_url", body, cta, image)
    if 0 < len(postbacks) <= WA_REPLY_BUTTONS:
        return _wa_interactive("button", body, {"buttons": [_wa_reply(b) for b in postbacks]}, image)
    if postbacks:
        rows = [{"id": str(b["data"])[:200], "title": b["label"][:WA_ROW]} for b in postbacks[:10]]
        action = {"button": _("選項")[:WA_TITLE], "sections": [{"rows": rows}]}
        return _wa_interactive("list", body, action)
    if image:
        return {"type": "image", "image": {"link": image, "caption": body[:WA_CAPTION]}}
    return {"type": "text", "text": {"body": body[:4096]}}


def _wa_carousel(body, cards, links):
    """WhatsApp's interactive carousel, or None when its rule (2–10 cards, same buttons on all) does not hold.
    `cards`: [(image, text, buttons)]."""
    if not WA_CARDS[0] <= len(cards) <= WA_CARDS[1]:
        return None
    shapes = {
        (sum(1 for b in buttons if b.get("url")), sum(1 for b in buttons if not b.get("url")))
        for _image, _text, buttons in cards
    }
    out = []
    if all(urls >= 1 for urls, _postbacks in shapes):
        for i, (image, text, buttons) in enumerate(cards):
            first = next(b for b in buttons if b.get("url"))
            card = {"card_index": i, "type": "cta_url", "header": {"type": "image", "image": {"link": image}}}
            card["action"] = _wa_cta(first, links)
            if text:
                card["body"] = {"text": text[:WA_CARD_BODY]}
            out.append(card)
    elif len(shapes) == 1 and next(iter(shapes))[0] == 0 and 1 <= next(iter(shapes))[1] <= WA_CARD_REPLIES:
        for i, (image, text, buttons) in enumerate(cards):
            replies = [
                {"type": "quick_reply", "quick_reply": {"id": str(b["data"])[:256], "title": b["label"][:WA_TITLE]}}
                for b in buttons
            ]
            card = {"card_index": i, "type": "button", "header": {"type": "image", "image": {"link": image}}}
            card["action"] = {"buttons": replies}
            if text:
                card["body"] = {"text": text[:WA_CARD_BODY]}
            out.append(card)
    else:
        return None
    return _wa_interactive("carousel", body, {"cards": out})


def _wa_module(module, links):
    c, t = module.content, module.type
    if t == ModuleType.TEXT_BUTTONS:
        return _wa_buttons(c["text"], c.get("buttons"), links)
    if t in (ModuleType.CAROUSEL, ModuleType.IMAGE_CAROUSEL):
        if t == ModuleType.CAROUSEL:
            cards = [
                (
                    card["image_url"],
                    "\n".join(filter(None, [card.get("title"), card.get("text")])),
                    card.get("buttons") or [],
                )
                for card in c["cards"]
            ]
        else:
            cards = [(card["image_url"], "", [card["button"]] if card.get("button") else []) for card in c["cards"]]
        body = str(c.get("alt_text") or module.name)
        carousel = _wa_carousel(body, cards, links)
        if carousel:
            return carousel
        if t == ModuleType.CAROUSEL:
            # One card as the message; the other cards' links follow it as tracked lines (their postbacks,
            # which only a carousel could carry, are left out).
            image, text, buttons = cards[0]
            others = [
                {"label": b["label"], "url": b["url"]} for _i, _t, more in cards[1:] for b in more if b.get("url")
            ]
            return _wa_buttons(text or body, buttons + others, links, image=image)
        if len(cards) == 1:
            image, _text, buttons = cards[0]
            return _wa_buttons(body, buttons, links, image=image)
        # Image-carousel cards without a link each: the first image, its caption listing the links.
        lines = [body] + [f"{b['label']}: {links.click(b['url'])}" for _i, _t, card in cards for b in card]
        return {"type": "image", "image": {"link": cards[0][0], "caption": "\n".join(lines)[:WA_CAPTION]}}
    if t == ModuleType.IMAGE_MAP:
        areas = c["areas"]
        action = _wa_cta({"label": _("開啟連結"), "url": areas[0]["url"]}, links)
        lines = [str(c.get("alt_text") or module.name)]
        lines += [f"{i}. {links.click(a['url'])}" for i, a in enumerate(areas[1:], start=2)]
        return _wa_interactive("cta_url", "\n".join(lines), action, c["image_url"])
    if t == ModuleType.COUPON_CARD:
        text = "\n".join(filter(None, [c["title"], c.get("text", ""), f"{_('優惠碼')}: {c['code']}"]))
        buttons = [c["button"]] if c.get("button") else []
        return _wa_buttons(text, buttons, links, image=c.get("image_url") or None)
    raise ContentError("bad_content", f"unknown module type {t}")


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
