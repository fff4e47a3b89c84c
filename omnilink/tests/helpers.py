"""Test helpers: a campaign, the card's link for a contact, and the code out of a deep link."""

import re
from urllib.parse import parse_qs, unquote, urlsplit

from django.utils import timezone

from omnilink import links, services

MOBILE = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"}
DESKTOP = {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0"}


def make_campaign(team, source, target, **kw):
    defaults = {
        "name": "LINE → WhatsApp",
        "card": {
            "image_url": "https://cdn.example.com/card.png",
            "title": "加入 WhatsApp",
            "text": "一鍵綁定",
            "button_label": "立即加入",
        },
        "integration_message": "我要綁定帳號",
        "completion_hours": 24,
    }
    defaults.update(kw)
    return services.save_campaign(team=team, source_channel=source, target_channel=target, **defaults)


def link_path(campaign, contact_id):
    return f"/ol/{links.make_token(campaign.pk, contact_id)}"


def code_of(url):
    """The OmniLink code inside a deep link (text or ref)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    text = (query.get("text") or query.get("ref") or [unquote(parts.query)])[0]
    match = re.search(r"OL-[2-9A-HJ-NP-Z]{8}", text)
    return match.group(0)


def now_ms(offset_seconds=0):
    return int((timezone.now().timestamp() + offset_seconds) * 1000)
