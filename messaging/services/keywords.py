"""Keyword rules: create / update, and the join link + QR code per rule (seed 004).

The link opens a chat with the keyword already typed (LINE oaMessage, wa.me ?text=, m.me ?ref=kw-<token>); on
WeChat it is a permanent parametric QR code with the scene "kw-<token>" (made once through WeChat's API).
A contact created by that first message (or, on Messenger, by the kw-<token> referral; on LINE, by a follow
followed within 10 minutes by the keyword) gets the new-contact source "keyword" (關鍵字自動回覆 / 指派).
"""

import secrets
from urllib.parse import quote

from django.utils.translation import gettext as _

from cdp.services import omo

from ..adapters import get_adapter
from ..models import KeywordRule
from .wechat_events import keyword_scene


def save_rule(form, team):
    rule = form.save(commit=False)
    rule.team = team
    if not rule.join_token:
        rule.join_token = secrets.token_urlsafe(12)
    rule.save()
    return rule


def join_link(rule):
    channel = rule.channel
    keyword = rule.keywords[0] if rule.keywords else ""
    if channel is None:
        return ""
    creds = channel.credentials or {}
    if channel.kind == "line" and creds.get("basic_id"):
        return f"https://line.me/R/oaMessage/{quote(creds['basic_id'])}/?{quote(keyword)}"
    if channel.kind == "whatsapp":
        phone = "".join(ch for ch in creds.get("display_phone_number", "") if ch.isdigit())
        return f"https://wa.me/{phone}?text={quote(keyword)}" if phone else ""
    if channel.kind == "facebook" and channel.external_id:
        return f"https://m.me/{channel.external_id}?ref=kw-{rule.join_token}"
    if channel.kind == "instagram" and creds.get("username"):
        return f"https://ig.me/m/{creds['username']}"
    if channel.kind == "wechat":
        return rule.wechat_qr_url
    return ""


def make_wechat_qr(rule):
    """Ask WeChat for the rule's permanent QR code (scene "kw-<join token>", messaging.services.wechat_events) and
    keep its URL. ConnectionError when WeChat refuses; a sandbox channel has no QR codes."""
    if rule.channel is None or rule.channel.kind != "wechat" or rule.channel.is_sandbox:
        raise ConnectionError(_("只有已連結的 WeChat 渠道可以產生 QR Code。"))
    url = get_adapter(rule.channel).create_qr(keyword_scene(rule))
    KeywordRule.objects.filter(pk=rule.pk).update(wechat_qr_url=url[:300])
    rule.wechat_qr_url = url[:300]
    return url


qr_svg = omo.qr_svg  # one QR code rendering for keyword rules and OMO staff / branches


def rules_for_team(team):
    return KeywordRule.objects.for_team(team).select_related("channel", "reply_module")
