"""Message content: validating chatbot modules and rendering outbox content to each platform's format.

Content JSON accepted by the outbox: {"type": "module", "module_id": N}, {"type": "whatsapp_template",
"template_id": N, "parameters": [...]}, (WeChat, outside the 48-hour window) {"type": "wechat_template",
"template_id": "…", "data": {"keyword1": "…"}, "url"?}, {"type": "text", "text": "..."}, and for apps above
messaging (commerce's order link) {"type": "link", "title", "text", "label", "url", "image_url"?}: one button that
opens a page of ours, a WhatsApp interactive cta_url or a LINE Flex bubble (not click-tracked: the URL is the
customer's own link).

Module content (per type):
- text_buttons:   {"text", "buttons": [{"label", "url"} | {"label", "data"}]}
- carousel:       {"cards": [{"image_url", "title", "text", "buttons": [...]}]}
- image_carousel: {"cards": [{"image_url", "button": {"label", "url"}}]}
- image_map:      {"image_url", "alt_text", "width", "height", "areas": [{"x", "y", "width", "height", "url"}]}
- coupon_card:    {"title", "text", "image_url", "code", "button": {"label", "url"}}, or a coupons campaign's card
                  {"title", "text", "image_url", "campaign", "claim_label"}: its button opens the claim page for
                  the receiving contact (a binding link token, method coupon; coupons serves the page)
- omnilink_card:  {"campaign_id", "image_url", "title", "text", "button_label"}: sent as a carousel of one card
                  whose button is a link made for the recipient by settings.MESSAGING_PERSONAL_LINKS (omnilink)

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

import re
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from cdp.services import binding_links
from core.errors import ServiceError

from ..models import ChatbotModule, ModuleType, TemplateStatus, WhatsAppTemplate
from ..module_serializers import content_errors
from .tracking_urls import click_url, open_url


class ContentError(ServiceError):
    """The content cannot be sent (deleted module, unapproved template, unsupported on the platform)."""

    def __init__(self, code, reason):
        super().__init__(reason, code=code)
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
def validate_module_content(module_type, content):
    """Raise ValidationError keyed by the JSON path of the wrong field (e.g. 'content.cards[0].image_url'): the
    module type's DRF serializer (messaging.module_serializers) decides."""
    errors = content_errors(module_type, content)
    if errors:
        raise ValidationError(errors)


# The channel kinds each content type can be rendered for (see render() below).
CONTENT_CHANNEL_KINDS = {
    "text": ("line", "facebook", "instagram", "whatsapp", "wechat"),
    "module": ("line", "facebook", "instagram", "whatsapp"),
    "whatsapp_template": ("whatsapp",),
    "wechat_template": ("wechat",),
}
CONTENT_TYPES = tuple(CONTENT_CHANNEL_KINDS)
LINK_CHANNEL_KINDS = ("line", "whatsapp")  # {"type": "link"}: written by apps above messaging, not the send API


def _invalid(field, message, code):
    return ValidationError({field: ValidationError(message, code=code)})


def check_sendable(team, channel, content, *, types=CONTENT_TYPES, prefix="content."):
    """THE answer to "can this content be sent on this channel" (broadcasts, journey message nodes, the send API).

    The content type is one of ``types`` and suits the channel's kind; a module is the team's and not deleted; a
    template is the team's, belongs to this very channel, is approved, and gets exactly its number of text
    parameters. Returns the content normalised (only its known keys); raises ValidationError keyed by
    ``prefix`` + the content field ("content.template_id"), each error with a stable code.
    """
    if not isinstance(content, dict):
        raise _invalid(prefix.rstrip(".") or "content", _("內容必須是 JSON 物件。"), "invalid_content")
    kind = content.get("type")
    if kind not in types:
        if "text" in types:
            message = _("內容類型必須是 text、module、whatsapp_template 或 wechat_template。")
        else:
            message = _("請選擇機器人模組、WhatsApp 訊息範本或 WeChat 模板訊息。")
        raise _invalid(f"{prefix}type", message, "invalid_type")
    if channel.kind not in CONTENT_CHANNEL_KINDS[kind]:
        message = {
            "text": _("此渠道無法發送訊息。"),
            "whatsapp_template": _("訊息範本僅適用於 WhatsApp。"),
            "wechat_template": _("WeChat 模板訊息僅適用於 WeChat。"),
        }.get(kind, _("此渠道無法發送機器人模組。"))
        raise _invalid(f"{prefix}type", message, "unsupported_on_channel")
    if kind == "text":
        text = content.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _invalid(f"{prefix}text", _("請輸入文字。"), "required")
        return {"type": "text", "text": text}
    if kind == "wechat_template":
        return _check_wechat_template(content, prefix)
    if kind == "module":
        module_id = content.get("module_id")
        found = _is_id(module_id) and ChatbotModule.objects.for_team(team).alive().filter(pk=module_id).exists()
        if not found:
            raise _invalid(f"{prefix}module_id", _("找不到這個機器人模組。"), "module_not_found")
        return {"type": "module", "module_id": module_id}
    template_id, parameters = content.get("template_id"), content.get("parameters", [])
    template = (
        WhatsAppTemplate.objects.for_team(team).alive().filter(pk=template_id, channel_id=channel.pk).first()
        if _is_id(template_id)
        else None
    )
    if template is None:
        raise _invalid(f"{prefix}template_id", _("找不到這個訊息範本。"), "template_not_found")
    if template.status != TemplateStatus.APPROVED:
        raise _invalid(f"{prefix}template_id", _("訊息範本尚未核准。"), "template_not_approved")
    if not isinstance(parameters, list) or not all(isinstance(p, str) for p in parameters):
        raise _invalid(f"{prefix}parameters", _("參數必須是文字清單。"), "invalid_parameters")
    if len(parameters) != template.parameter_count:
        message = _("此範本需要 %(n)s 個參數。") % {"n": template.parameter_count}
        raise _invalid(f"{prefix}parameters", message, "parameter_count")
    return {"type": "whatsapp_template", "template_id": template_id, "parameters": parameters}


WECHAT_DATA_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")  # a template's {{keyword1.DATA}} names


def _check_wechat_template(content, prefix):
    """A WeChat template message: the template's id on WeChat, its data keys → text, and an optional link."""
    template_id, data, url = content.get("template_id"), content.get("data", {}), content.get("url", "")
    if not isinstance(template_id, str) or not template_id.strip():
        raise _invalid(f"{prefix}template_id", _("請輸入 WeChat 模板 ID。"), "required")
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise _invalid(f"{prefix}data", _("data 必須是「欄位: 文字」的物件。"), "invalid_parameters")
    bad = next((key for key in data if not WECHAT_DATA_KEY.match(key)), None)
    if bad is not None:
        message = _("欄位「%(key)s」不是模板的欄位名稱：每行一個「欄位: 內容」，欄位為英數（例如 keyword1）。")
        raise _invalid(f"{prefix}data", message % {"key": bad[:40]}, "invalid_parameters")
    if not isinstance(url, str) or (url and not url.startswith(("https://", "http://"))):
        raise _invalid(f"{prefix}url", _("連結必須以 http:// 或 https:// 開頭。"), "invalid_url")
    result = {"type": "wechat_template", "template_id": template_id.strip(), "data": data}
    return {**result, "url": url} if url else result


def wechat_data_from_text(text):
    """The console's "欄位: 內容" lines (one a line, full-width colon too) → a template's data; a line without a
    colon becomes a key check_sendable names as wrong."""
    data = {}
    for line in (text or "").splitlines():
        if line.strip():
            key, *value = re.split(r"[:：]", line, maxsplit=1)
            data[key.strip()] = value[0].strip() if value else ""
    return data


def wechat_data_text(data):
    """A template's data → the console's "欄位: 內容" lines (the inverse of wechat_data_from_text)."""
    return "\n".join(f"{key}: {value}" for key, value in data.items()) if isinstance(data, dict) else ""


def _is_id(value):
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def validate_outbox_content(team, channel, content):
    """Check outbox content before enqueueing (the send API): ``check_sendable`` with every content type."""
    return check_sendable(team, channel, content)


# ---------------------------------------------------------------------------------------------- rendering
class _Links:
    def __init__(self, message_id, message=None):
        self.message_id = message_id
        self.message = message
        self.urls = []
        self.images = []

    def coupon_claim(self, campaign_id):
        """The claim page of a coupons campaign for this message's contact: a binding link token (method coupon,
        the campaign as its ref) in the path of the page coupons serves (named URL "coupon-claim")."""
        m = self.message
        token = binding_links.token_for(m.team_id, m.channel_id, m.contact_id, "coupon", campaign_id)
        return f"{settings.PUBLIC_BASE_URL}{reverse('coupon-claim', kwargs={'token': token})}"

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
        if module.type == ModuleType.OMNILINK_CARD:
            module = _personal_card(module, message)
        return "module", module
    if kind == "whatsapp_template":
        template = WhatsAppTemplate.objects.filter(team_id=message.team_id, pk=content.get("template_id")).first()
        if template is None or template.deleted_at:
            raise ContentError("template_deleted", "WhatsApp template deleted")
        if template.status != TemplateStatus.APPROVED:
            raise ContentError("template_unusable", f"WhatsApp template {template.status}")
        return "template", template
    if kind == "wechat_template":
        return "wechat_template", content

    if kind == "link":
        return "link", content
    raise ContentError("bad_content", f"unknown content type {kind!r}")


def _personal_card(module, message):
    """An OmniLink card for one recipient: a one-card carousel whose button is the link the app named in
    settings.MESSAGING_PERSONAL_LINKS makes for (module, message) (an app above messaging: no import)."""
    c = module.content or {}
    url = import_string(settings.MESSAGING_PERSONAL_LINKS[module.type])(module=module, message=message)
    if not url:
        raise ContentError("bad_content", "no link for this card")
    card = {
        "image_url": c.get("image_url"),
        "title": c.get("title", ""),
        "text": c.get("text") or "",
        "buttons": [{"label": c.get("button_label", ""), "url": url}],
    }
    return ChatbotModule(
        pk=module.pk, team_id=module.team_id, name=module.name, type=ModuleType.CAROUSEL, content={"cards": [card]}
    )


def render(message, channel_kind):
    kind, value = load_content(message)
    links = _Links(message.pk, message)
    if channel_kind == "whatsapp":
        return _render_whatsapp(kind, value, message)
    if channel_kind == "wechat":
        return _render_wechat(kind, value)
    if kind in ("template", "wechat_template"):
        raise ContentError("unsupported", "WhatsApp templates can only be sent on WhatsApp")
    if kind == "link":
        if channel_kind != "line":
            raise ContentError("unsupported", f"link messages cannot be sent on {channel_kind}")
        return Rendered(payload={"messages": [_line_link(value)]}, preview=value.get("text", "")[:300])
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


def _render_wechat(kind, value):
    """Text → a Customer Service text message; a template → template/send's body (adapters.wechat)."""
    if kind == "text":
        return Rendered(payload={"message": {"msgtype": "text", "text": {"content": value}}}, preview=value[:300])
    if kind == "wechat_template":
        template = {"template_id": value["template_id"], "data": {k: {"value": v} for k, v in value["data"].items()}}
        if value.get("url"):
            template["url"] = value["url"]
        preview = " / ".join(value["data"].values()) or value["template_id"]
        return Rendered(payload={"template": template}, preview=f"[{value['template_id']}] {preview}"[:300])
    raise ContentError("unsupported", "chatbot modules and WhatsApp templates cannot be sent on WeChat")


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
    if kind == "link":
        return Rendered(payload=_wa_link(value), preview=value.get("text", "")[:300])
    links = _Links(message.pk, message)
    payload = _wa_module(value, links)
    preview = f"[{value.get_type_display()}] {value.name}"[:300]
    return Rendered(payload=payload, urls=links.urls, preview=preview)


WA_BODY, WA_CARD_BODY, WA_TITLE, WA_ROW, WA_CAPTION = 1024, 160, 20, 24, 1024
WA_REPLY_BUTTONS, WA_CARD_REPLIES, WA_CARDS = 3, 2, (2, 10)


def _wa_link(content):
    """{"type": "link"} → an interactive cta_url message (one URL button)."""
    action = {
        "name": "cta_url",
        "parameters": {"display_text": str(content.get("label", ""))[:WA_TITLE], "url": content["url"]},
    }
    body = str(content.get("text", "")) or content["url"]
    payload = _wa_interactive("cta_url", body, action, content.get("image_url"))
    if content.get("title") and not content.get("image_url"):
        payload["interactive"]["header"] = {"type": "text", "text": str(content["title"])[:60]}
    return payload


def _line_link(content):
    """{"type": "link"} → a Flex bubble: optional logo hero, title, text and one URI button."""
    bubble = {"type": "bubble"}
    if content.get("image_url"):
        bubble["hero"] = {
            "type": "image",
            "url": content["image_url"],
            "size": "md",
            "aspectRatio": "1:1",
            "aspectMode": "fit",
        }
    body = []
    if content.get("title"):
        body.append({"type": "text", "text": str(content["title"])[:100], "weight": "bold", "size": "lg", "wrap": True})
    body.append({"type": "text", "text": str(content.get("text", ""))[:2000] or " ", "wrap": True})
    bubble["body"] = {"type": "box", "layout": "vertical", "contents": body}
    button = {"type": "uri", "label": str(content.get("label", ""))[:20], "uri": content["url"]}
    bubble["footer"] = {
        "type": "box",
        "layout": "vertical",
        "contents": [{"type": "button", "style": "primary", "action": button}],
    }
    alt = (str(content.get("title", "")) + " " + str(content.get("text", ""))).strip()[:400] or content["url"]
    return {"type": "flex", "altText": alt, "contents": bubble}


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
        text = "\n".join(filter(None, [c["title"], c.get("text", ""), _coupon_code_line(c)]))
        return _wa_buttons(text, _coupon_buttons(c, links), links, image=c.get("image_url") or None)
    raise ContentError("bad_content", f"unknown module type {t}")


def _coupon_code_line(c):
    """A plain card shows its code; a campaign's card shows none (the claim page assigns one per customer)."""
    return "" if c.get("campaign") or not c.get("code") else f"{_('優惠碼')}: {c['code']}"


def _coupon_buttons(c, links):
    if c.get("campaign"):
        url = links.coupon_claim(c["campaign"])
        return [{"label": str(c.get("claim_label") or _("領取優惠券"))[:20], "url": url}]
    return [c["button"]] if c.get("button") else []


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
        text = "\n".join(filter(None, [c.get("text", ""), _coupon_code_line(c)]))
        buttons = _coupon_buttons(c, links)
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
        element = {"title": c["title"][:80], "subtitle": f"{c.get('text', '')} {_coupon_code_line(c)}".strip()[:80]}
        if c.get("image_url"):
            element["image_url"] = c["image_url"]
        buttons = _coupon_buttons(c, links)
        if buttons:
            element["buttons"] = [_meta_button(b, links) for b in buttons]
        return {"attachment": {"type": "template", "payload": {"template_type": "generic", "elements": [element]}}}
    raise ContentError("bad_content", f"unknown module type {t}")


def reply_module_error(team, channel, module):
    """Why `module` cannot answer on the rule's `channel` (WeChat takes no chatbot modules), else "": check_sendable,
    for the console form, the API and the reply itself. A rule for every channel is not limited here."""
    if channel is None or module is None:
        return ""
    try:
        check_sendable(team, channel, {"type": "module", "module_id": module.pk}, types=("module",))
    except ValidationError as exc:
        return next(iter(exc.message_dict.values()))[0]
    return ""
