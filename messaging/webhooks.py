"""Platform webhooks: verify, store the raw events, acknowledge. Processing happens in messaging.tasks.

Also the tracked-link redirect (/r/<token>) and the LINE open pixel (/o/<token>/...).
"""

import base64
import hmac
import logging

from django.conf import settings
from django.http import Http404, HttpResponse, HttpResponseForbidden, HttpResponseRedirect, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from cdp.models import ChannelKind

from .services import channel_cache, ingest, sms_receipts, tracking, wechat
from .services.content import PIXEL
from .services.tracking_urls import parse_token

logger = logging.getLogger(__name__)
LINE_KINDS = [ChannelKind.LINE]

PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def _rejected(exc, platform, channel_id):
    logger.warning("%s webhook rejected for channel %s: %s", platform, channel_id, exc.reason)
    return JsonResponse({"error": exc.reason}, status=exc.status)


@csrf_exempt
@require_http_methods(["POST"])
def line(request, channel_id):
    try:
        ingest.accept(channel_id, LINE_KINDS, ingest.parse_line, request.body, request.headers.get("x-line-signature"))
    except ingest.Rejected as exc:
        return _rejected(exc, "line", channel_id)
    return HttpResponse(status=200)


def _handshake(request, channel_id, kinds):
    """Meta's subscription check. A verify token that does not match is read again from the database only as
    often as channel_cache allows (it may have just been changed in another process)."""
    given = request.GET.get("hub.verify_token", "")
    channel = ingest.get_channel(channel_id, kinds)
    if not _verify_token_matches(channel, given) and channel_cache.may_reload(channel_id):
        channel = ingest.get_channel(channel_id, kinds, fresh=True)
    if request.GET.get("hub.mode") == "subscribe" and _verify_token_matches(channel, given):
        return HttpResponse(request.GET.get("hub.challenge", ""), content_type="text/plain")
    logger.warning("handshake refused for channel %s", channel.pk)
    return HttpResponseForbidden("verify token mismatch")


def _verify_token_matches(channel, given):
    token = (channel.credentials or {}).get("verify_token", "")
    return bool(token) and hmac.compare_digest(token.encode(), given.encode())


@csrf_exempt
@require_http_methods(["GET", "POST"])
def meta(request, channel_id):
    kinds = [ChannelKind.FACEBOOK, ChannelKind.INSTAGRAM]
    try:
        if request.method == "GET":
            return _handshake(request, channel_id, kinds)
        signature = request.headers.get("x-hub-signature-256")
        ingest.accept(channel_id, kinds, ingest.parse_meta, request.body, signature)
    except ingest.Rejected as exc:
        return _rejected(exc, "meta", channel_id)
    return HttpResponse(status=200)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def whatsapp(request, channel_id):
    kinds = [ChannelKind.WHATSAPP]
    try:
        if request.method == "GET":
            return _handshake(request, channel_id, kinds)
        signature = request.headers.get("x-hub-signature-256")
        ingest.accept(channel_id, kinds, ingest.parse_whatsapp, request.body, signature)
    except ingest.Rejected as exc:
        return _rejected(exc, "whatsapp", channel_id)
    return HttpResponse(status=200)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def wechat_account(request, channel_id):
    """WeChat Official Account: the GET server-URL check (echo `echostr`), POST XML in plaintext or 安全模式.
    Answers "success" at once (WeChat's 5 seconds); the events are processed from their stored rows."""
    kinds = [ChannelKind.WECHAT]
    query = request.GET.dict()
    try:
        if request.method == "GET":
            channel = ingest.get_channel(channel_id, kinds)
            try:
                echo = wechat.verify_url(channel, query)
            except ingest.Rejected:
                if not channel_cache.may_reload(channel_id):
                    raise
                echo = wechat.verify_url(ingest.get_channel(channel_id, kinds, fresh=True), query)
            return HttpResponse(echo, content_type="text/plain")
        ingest.accept(channel_id, kinds, wechat.parse, request.body, query)
    except ingest.Rejected as exc:
        return _rejected(exc, "wechat", channel_id)
    return HttpResponse("success", content_type="text/plain")


@csrf_exempt
@require_http_methods(["GET", "POST"])
def sms(request, channel_id):
    """SMS delivery receipts (messaging.services.sms_receipts): Twilio's signed POST, Mitake's GET with ?secret=."""
    params = (request.POST if request.method == "POST" else request.GET).dict()
    secret = params.pop("secret", "") if request.method == "GET" else request.GET.get("secret", "")
    url = f"{settings.PUBLIC_BASE_URL}{request.get_full_path()}"
    try:
        sms_receipts.receive(
            channel_id, url=url, params=params, signature=request.headers.get("x-twilio-signature", ""), secret=secret
        )
    except sms_receipts.ReceiptRejected as exc:
        logger.info("SMS receipt for channel %s refused: %s", channel_id, exc.reason)
        return HttpResponse(exc.reason, status=exc.status, content_type="text/plain")
    return HttpResponse(status=200)


@require_GET
def tracked_click(request, token):
    link = parse_token(token)
    if link is None:
        raise Http404
    url = tracking.record_click(link.message_id, link.index, legacy=link.legacy)
    if not url:
        raise Http404
    return HttpResponseRedirect(url)


@require_GET
def open_pixel(request, token, rest=""):
    link = parse_token(token)
    if link is None:
        raise Http404
    image = tracking.record_open(link.message_id, link.index, legacy=link.legacy)
    if image and image != PIXEL:
        return HttpResponseRedirect(f"{image.rstrip('/')}/{rest}" if rest else image)
    response = HttpResponse(PIXEL_PNG, content_type="image/png")
    response["Cache-Control"] = "no-store"
    return response
