"""Console: orders (list, new from the conversation view, detail with send / mark paid / cancel / fulfil),
對話下單 > 基本設定, catalog products. Thin: every change is a service call."""

import base64

from django.contrib import messages
from django.db.models import Count
from django.http import FileResponse, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.decorators import team_required
from cdp.models import Contact
from core.errors import ServiceError

from .forms import BranchForm, LogoForm, ProductForm, SettingsForm
from .models import CatalogProduct, Delivery, Order, PaymentChoice, PickupBranch
from .services import catalog, links, orders, shop_settings
from .services.payments import webhook_url
from .statemachine import OrderStatus

ROWS = 5
PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


@team_required("orders.manage")
def order_list(request):
    status = request.GET.get("status", "")
    queryset = Order.objects.for_team(request.team).select_related("contact", "channel")
    if status in OrderStatus.values:
        queryset = queryset.filter(status=status)
    counts = dict(Order.objects.for_team(request.team).values_list("status").annotate(n=Count("id")))
    context = {
        "section": "orders",
        "orders": queryset.order_by("-created_at", "-id")[:100],
        "status": status,
        "statuses": [(value, label, counts.get(value, 0)) for value, label in OrderStatus.choices],
    }
    return render(request, "commerce/orders.html", context)


def _items_from(post):
    rows = zip(
        post.getlist("item_product"),
        post.getlist("item_name"),
        post.getlist("item_quantity"),
        post.getlist("item_price"),
        strict=False,
    )
    items = []
    for product, name, quantity, price in rows:
        if not (product or name.strip()):
            continue
        item = {"quantity": quantity.strip() or "1"}
        if product:
            item["product"] = product
        if name.strip():
            item["name"] = name
        if price.strip():
            item["unit_price"] = price
        items.append(item)
    return items


@team_required("orders.manage")
def order_new(request):
    """From the conversation view: the contact, items (free text or catalog), delivery and payment, then send."""
    team = request.team
    contact = (
        Contact.objects.for_team(team)
        .select_related("channel")
        .filter(pk=request.GET.get("contact") or request.POST.get("contact") or 0)
        .first()
    )
    error = None
    if request.method == "POST" and contact is not None:
        try:
            fields = dict(
                team=team,
                contact=contact,
                items=_items_from(request.POST),
                delivery=request.POST.get("delivery", ""),
                shipping_address=request.POST.get("shipping_address", ""),
                pickup_branch=request.POST.get("pickup_branch") or None,
                payment_choice=request.POST.get("payment_choice", ""),
                note=request.POST.get("note", ""),
                created_by=request.user,
            )
            if request.POST.get("send"):
                order = orders.create_and_send_order(actor=request.user, **fields)
                messages.success(request, _("已傳送訂單連結給顧客。"))
            else:
                order = orders.create_order(**fields)
            return redirect("commerce:order", order.pk)
        except ServiceError as exc:
            error = " ".join(exc.messages)  # the words, never the {field: [...]} form
    row = shop_settings.get_settings(team)
    methods = shop_settings.methods_for_channel(row, contact.channel.kind) if contact else []
    choices = [(m, n) for m, n in methods] + [(PaymentChoice.CUSTOMER.value, PaymentChoice.CUSTOMER.label)]
    if contact and contact.channel.kind == "whatsapp":
        choices.append((PaymentChoice.PAY_AT_STORE.value, PaymentChoice.PAY_AT_STORE.label))
    post = request.POST
    rows = (
        list(
            zip(
                post.getlist("item_product"),
                post.getlist("item_name"),
                post.getlist("item_quantity"),
                post.getlist("item_price"),
                strict=False,
            )
        )
        or [("", "", "1", "")] * ROWS
    )
    context = {
        "section": "orders",
        "contact": contact,
        "error": error,
        "rows": rows,
        "products": CatalogProduct.objects.for_team(team).filter(is_active=True),
        "branches": PickupBranch.objects.for_team(team).filter(is_active=True),
        "deliveries": Delivery.choices,
        "choices": choices,
        "values": post,
        "contacts": []
        if contact
        else Contact.objects.for_team(team)
        .filter(channel__kind__in=("line", "whatsapp"))
        .select_related("channel")
        .order_by("-last_customer_interaction_at")[:50],
    }
    return render(request, "commerce/order_new.html", context, status=400 if error else 200)


@team_required("orders.manage")
def order_detail(request, pk):
    order = get_object_or_404(
        Order.objects.for_team(request.team).select_related("contact", "channel", "pickup_branch", "created_by"), pk=pk
    )
    row = shop_settings.get_settings(request.team)
    context = {
        "section": "orders",
        "order": order,
        "items": order.items.all(),
        "transitions": order.transitions.all(),
        "payments": order.payments.all(),
        "method_name": shop_settings.display_name(row, order.payment_method),
        "link": links.order_url(order) if order.status != OrderStatus.DRAFT else "",
    }
    return render(request, "commerce/order_detail.html", context)


ACTIONS = {
    "send": orders.send_order,
    "mark_paid": orders.mark_paid,
    "cancel": orders.cancel_order,
    "fulfil": orders.fulfil_order,
}


@team_required("orders.manage")
@require_POST
def order_action(request, pk, verb):
    order = get_object_or_404(Order.objects.for_team(request.team), pk=pk)
    if verb not in ACTIONS:
        return redirect("commerce:order", order.pk)
    try:
        ACTIONS[verb](order, actor=request.user)
        messages.success(request, _("已更新訂單。"))
    except ServiceError as exc:
        messages.error(request, str(exc))
    return redirect("commerce:order", order.pk)


@team_required("orders.settings")
def settings_page(request):
    team = request.team
    row = shop_settings.get_settings(team)
    methods = shop_settings.methods(row)
    initial = {
        "email_required": "1" if row.email_required else "0",
        "default_email": row.default_email,
        "payment_provider": row.payment_provider,
        "catalog_id": row.catalog_id,
        "cart_enabled": row.cart_enabled,
    }
    form = SettingsForm(request.POST or None, initial=initial, methods=methods)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        credentials = {"secret_key": data["stripe_secret_key"], "webhook_secret": data["stripe_webhook_secret"]}
        try:
            shop_settings.update_settings(
                team,
                email_required=data["email_required"],
                default_email=data["default_email"],
                payment_methods=form.payment_methods(),
                payment_provider=data["payment_provider"],
                provider_credentials=credentials,
                catalog_id=data["catalog_id"],
                cart_enabled=data["cart_enabled"],
            )
            messages.success(request, _("已儲存設定。"))
            return redirect("commerce:settings")
        except ServiceError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc))
    context = {
        "section": "orders",
        "form": form,
        "settings": row,
        "logo": shop_settings.logo_file(team, row),
        "team_has_avatar": bool(team.avatar),
        "logo_form": LogoForm(),
        "branch_form": BranchForm(),
        "branches": PickupBranch.objects.for_team(team),
        "webhook_url": webhook_url(team, "stripe"),
    }
    return render(request, "commerce/settings.html", context, status=400 if form.errors else 200)


@team_required("orders.settings")
@require_POST
def logo_action(request, verb):
    try:
        if verb == "upload":
            form = LogoForm(request.POST, request.FILES)
            if not form.is_valid():
                raise ServiceError(_("請選擇圖片。"), field="logo", code="invalid_logo")
            shop_settings.upload_logo(request.team, form.cleaned_data["logo"])
        elif verb == "delete":
            shop_settings.delete_logo(request.team)
        elif verb == "restore":
            shop_settings.restore_team_avatar(request.team)
    except ServiceError as exc:
        messages.error(request, str(exc))
    return redirect("commerce:settings")


@team_required("orders.settings")
def logo_image(request):
    image = shop_settings.logo_file(request.team)
    if image is None:
        return HttpResponse(PIXEL_PNG, content_type="image/png")  # no logo (the settings page shows 「無圖片」)
    return FileResponse(image.open("rb"))


@team_required("orders.settings")
@require_POST
def branch_add(request):
    form = BranchForm(request.POST)
    if form.is_valid():
        PickupBranch.objects.get_or_create(
            team=request.team, name=form.cleaned_data["name"], defaults={"address": form.cleaned_data["address"]}
        )
    else:
        messages.error(request, _("請輸入分店名稱。"))
    return redirect("commerce:settings")


@team_required("orders.manage")
def products(request):
    form = ProductForm(request.POST or None)
    if request.method == "POST":
        if not request.membership.has_perm("orders.settings"):
            return redirect("commerce:products")
        if request.POST.get("sync"):
            try:
                created, updated = catalog.sync_catalog(request.team)
                messages.success(request, _("已同步目錄：新增 %(c)s、更新 %(u)s。") % {"c": created, "u": updated})
            except ServiceError as exc:
                messages.error(request, str(exc))
            return redirect("commerce:products")
        if form.is_valid():
            try:
                catalog.save_product(request.team, **form.cleaned_data)
                return redirect("commerce:products")
            except ServiceError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, str(exc))
    context = {
        "section": "orders",
        "form": form,
        "products": CatalogProduct.objects.for_team(request.team),
        "settings": shop_settings.get_settings(request.team),
    }
    return render(request, "commerce/products.html", context, status=400 if form.errors else 200)
