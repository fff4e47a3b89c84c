"""The customer's order pages, reached by a signed expiring link (services.links): 待確認頁 (confirm), 訂單預覽頁
(preview, with 「付款」), 訂單明細頁 (detail, once paid or closed). Server-rendered, mobile-first, zh-Hant by default,
English with ?lang=en. Also the sandbox provider's pay / fail page."""

import mimetypes

from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.views.decorators.http import require_http_methods, require_POST

from core.errors import ServiceError

from .models import Delivery, Order, Payment, PaymentChoice, PaymentMethod, PickupBranch
from .services import links, orders, payments, shop_settings
from .services.payments import sandbox
from .statemachine import OrderStatus

PAGES = {
    OrderStatus.AWAITING_CONFIRMATION: "confirm",
    OrderStatus.AWAITING_PAYMENT: "preview",
}


def _language(request):
    lang = request.GET.get("lang") or request.POST.get("lang") or ""
    return lang if lang in ("en", "zh-hant") else None


def _with_language(view):
    def wrapped(request, *args, **kwargs):
        lang = _language(request)
        if lang is None:
            return view(request, *args, **kwargs)
        with translation.override(lang):
            response = view(request, *args, **kwargs)
            if hasattr(response, "render"):
                response.render()
            return response

    wrapped.__name__ = view.__name__
    return wrapped


def _order(request, token):
    """The order a token names, or the clear page saying why not (expired: 410, anything else: 404)."""
    try:
        team_id, order_id = links.parse(token)
    except links.LinkError as error:
        return None, _link_error(request, error.code)
    order = (
        Order.objects.filter(team_id=team_id, pk=order_id)
        .select_related("team", "channel", "pickup_branch")
        .prefetch_related("items")
        .first()
    )
    if order is None:
        return None, _link_error(request, "invalid")
    return order, None


def _link_error(request, code):
    return render(request, "commerce/public/link_error.html", {"code": code}, status=410 if code == "expired" else 404)


def _context(request, order, token, *, page, errors=None, values=None):
    row = shop_settings.get_settings(order.team)
    methods = shop_settings.methods_for_channel(row, order.channel.kind)
    lang = _language(request)
    return {
        "order": order,
        "items": list(order.items.all()),
        "token": token,
        "page": page,
        "lang": lang or "",
        "lang_query": f"?lang={lang}" if lang else "",
        "other_lang": "en" if translation.get_language() != "en" else "zh-hant",
        "has_logo": shop_settings.logo_file(order.team, row) is not None,
        "email_required": row.email_required,
        "method_name": shop_settings.display_name(row, order.payment_method),
        "methods": methods,
        "customer_picks_method": not order.payment_method,
        "customer_picks_delivery": not order.delivery or order.source != "staff",
        "branches": list(PickupBranch.objects.for_team(order.team).filter(is_active=True)),
        "deliveries": Delivery.choices,
        "pay_at_store": order.payment_choice == PaymentChoice.PAY_AT_STORE,
        "is_card": order.payment_method == PaymentMethod.CARD,
        "paid_flag": request.GET.get("paid") == "1",
        "errors": errors or {},
        "values": values or {},
    }


@_with_language
@require_http_methods(["GET"])
def order_page(request, token):
    order, error = _order(request, token)
    if error:
        return error
    page = PAGES.get(order.status, "detail")
    return render(request, f"commerce/public/{page}.html", _context(request, order, token, page=page))


@_with_language
@require_POST
def confirm(request, token):
    order, error = _order(request, token)
    if error:
        return error
    data = request.POST
    try:
        orders.confirm_order(
            order,
            delivery=data.get("delivery") or None,
            shipping_address=data.get("shipping_address", ""),
            pickup_branch=data.get("pickup_branch"),
            payment_method=data.get("payment_method", ""),
            email=data.get("email", ""),
        )
    except ServiceError as exc:
        context = _context(request, order, token, page="confirm", errors={exc.field or "form": str(exc)}, values=data)
        return render(request, "commerce/public/confirm.html", context, status=400)
    return HttpResponseRedirect(_page_url(token, request))


@_with_language
@require_POST
def pay(request, token):
    order, error = _order(request, token)
    if error:
        return error
    try:
        payment = payments.start_payment(order)
    except ServiceError as exc:
        context = _context(request, order, token, page="preview", errors={"form": str(exc)})
        return render(request, "commerce/public/preview.html", context, status=400)
    return HttpResponseRedirect(payment.checkout_url)


def logo(request, token):
    try:
        team_id, order_id = links.parse(token)
    except links.LinkError:
        raise Http404 from None
    order = Order.objects.filter(team_id=team_id, pk=order_id).select_related("team").first()
    image = shop_settings.logo_file(order.team) if order else None
    if image is None:
        raise Http404
    content_type = mimetypes.guess_type(image.name)[0] or "application/octet-stream"
    response = FileResponse(image.open("rb"), content_type=content_type)
    response["Cache-Control"] = "private, max-age=300"
    return response


@_with_language
@require_http_methods(["GET", "POST"])
def sandbox_pay(request, token):
    """The sandbox provider's hosted page: a tester pays or fails."""
    payment_id = sandbox.parse_token(token)
    payment = Payment.objects.filter(pk=payment_id, provider="sandbox").select_related("order", "order__team").first()
    if payment is None:
        raise Http404
    back = links.order_url(payment.order)
    if request.method == "POST":
        result = request.POST.get("result")
        try:
            payments.sandbox_result(payment, result)
        except ServiceError as exc:
            return render(
                request, "commerce/public/sandbox_pay.html", {"payment": payment, "error": str(exc)}, status=400
            )
        return HttpResponseRedirect(back + ("?paid=1" if result == "paid" else ""))
    return render(request, "commerce/public/sandbox_pay.html", {"payment": payment, "back": back})


def _page_url(token, request):
    url = reverse("commerce-public:order", args=[token])
    lang = _language(request)
    return url + (f"?lang={lang}" if lang else "")
