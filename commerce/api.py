"""REST API: /api/v1/orders (+ /{id}/send, /{id}/mark-paid, /{id}/cancel), /api/v1/catalog/products,
/api/v1/commerce/settings. The same services as the console; a service's refusal is a 400 with its code."""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.response import Response

from accounts.api_auth import IsTeamMember
from accounts.api_base import TeamScopedViewSet, current_team
from core.params import parse_id

from .models import CatalogProduct, Delivery, Order, OrderSource, PaymentChoice
from .services import catalog, links, orders, shop_settings
from .services.payments import webhook_url
from .statemachine import OrderStatus


def _actor(request):
    return f"api:{getattr(request.auth, 'name', '') or 'key'}"


class OrderItemSerializer(serializers.Serializer):
    product = serializers.IntegerField(required=False, help_text="a catalog product id (name and price from it)")
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    sku = serializers.CharField(required=False, allow_blank=True, max_length=100)
    quantity = serializers.IntegerField(help_text="1 or more")
    unit_price = serializers.DecimalField(max_digits=14, decimal_places=2, required=False)
    currency = serializers.CharField(required=False, max_length=3, help_text="must be the team's currency")
    line_total = serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True)


class OrderSerializer(serializers.ModelSerializer):
    items = serializers.SerializerMethodField()
    link = serializers.SerializerMethodField(help_text="the customer's signed order link (expires)")
    transitions = serializers.SerializerMethodField()
    delivery = serializers.CharField(read_only=True, help_text="shipping | pickup | empty (not chosen yet)")
    payment_choice = serializers.CharField(
        read_only=True, help_text="card | cash | cheque | bank | customer | pay_at_store | empty"
    )
    payment_method = serializers.CharField(read_only=True, help_text="card | cash | cheque | bank | empty")
    email = serializers.CharField(read_only=True, help_text="the customer's email; empty when not given")

    class Meta:
        model = Order
        fields = [
            "id",
            "number",
            "status",
            "source",
            "customer",
            "contact",
            "channel",
            "created_by",
            "currency",
            "total",
            "delivery",
            "shipping_address",
            "pickup_branch",
            "payment_choice",
            "payment_method",
            "email",
            "note",
            "items",
            "link",
            "transitions",
            "created_at",
            "sent_at",
            "paid_at",
        ]
        read_only_fields = fields

    def get_items(self, order) -> list[dict]:
        return [
            {
                "name": i.name,
                "sku": i.sku,
                "quantity": i.quantity,
                "unit_price": str(i.unit_price),
                "line_total": str(i.line_total),
            }
            for i in order.items.all()
        ]

    def get_link(self, order) -> str:
        return links.order_url(order) if order.status != OrderStatus.DRAFT else ""

    def get_transitions(self, order) -> list[dict]:
        return [
            {"from": t.from_status, "to": t.to_status, "event": t.event, "actor": t.actor, "at": t.at}
            for t in order.transitions.all()
        ]


class OrderCreateSerializer(serializers.Serializer):
    contact = serializers.IntegerField(help_text="a contact of the team on LINE or WhatsApp")
    items = OrderItemSerializer(many=True, help_text="at least one; free text or catalog products")
    delivery = serializers.ChoiceField(choices=Delivery.choices, required=False, allow_blank=True)
    shipping_address = serializers.CharField(required=False, allow_blank=True, max_length=500)
    pickup_branch = serializers.IntegerField(required=False, allow_null=True)
    payment_choice = serializers.ChoiceField(choices=PaymentChoice.choices, required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True)
    note = serializers.CharField(required=False, allow_blank=True, max_length=500)
    send = serializers.BooleanField(required=False, default=False, help_text="send the order link at once")


ORDER_EXAMPLE = {
    "contact": 12,
    "items": [{"name": "保濕精華", "sku": "SER-1", "quantity": 2, "unit_price": "640"}, {"product": 3, "quantity": 1}],
    "delivery": "shipping",
    "shipping_address": "台北市信義區松高路 1 號",
    "payment_choice": "customer",
    "send": True,
}


@extend_schema(tags=["orders"])
class OrderViewSet(TeamScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Chat to Order orders (對話下單). Status: draft → awaiting_confirmation → awaiting_payment → paid → fulfilled,
    or cancelled; each change is in `transitions` with who and when."""

    queryset = Order.objects.select_related("team").prefetch_related("items", "transitions")
    serializer_class = OrderSerializer
    required_permissions = {"read": "orders.manage", "write": "orders.manage"}

    def scope_queryset(self, queryset):
        params = self.request.query_params
        if params.get("status") in OrderStatus.values:
            queryset = queryset.filter(status=params["status"])
        if params.get("source") in OrderSource.values:
            queryset = queryset.filter(source=params["source"])
        for name in ("customer", "contact", "channel"):
            if params.get(name):
                queryset = queryset.filter(**{f"{name}_id": parse_id(params[name]) or 0})
        return queryset.order_by("-created_at", "-id")

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=OrderStatus.values),
            OpenApiParameter("source", str, enum=OrderSource.values),
            OpenApiParameter("customer", int),
            OpenApiParameter("contact", int),
            OpenApiParameter("channel", int),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request=OrderCreateSerializer,
        responses={201: OrderSerializer},
        examples=[OpenApiExample("Staff order", value=ORDER_EXAMPLE, request_only=True)],
    )
    def create(self, request):
        serializer = OrderCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        send = data.pop("send", False)
        items = [{k: (str(v) if k == "unit_price" else v) for k, v in item.items()} for item in data.pop("items")]
        if send:
            order = orders.create_and_send_order(actor=_actor(request), team=self.team, items=items, **data)
        else:
            order = orders.create_order(team=self.team, items=items, **data)
        return Response(self._read(order), status=status.HTTP_201_CREATED)

    def _read(self, order):
        return OrderSerializer(self.get_queryset().get(pk=order.pk), context=self.get_serializer_context()).data

    @extend_schema(request=None, responses=OrderSerializer, summary="Send the order link on the order's channel")
    @action(detail=True, methods=["post"])
    def send(self, request, pk=None):
        return Response(self._read(orders.send_order(self.get_object(), actor=_actor(request))))

    @extend_schema(request=None, responses=OrderSerializer, summary="Mark an offline payment (cash, cheque, bank) paid")
    @action(detail=True, methods=["post"], url_path="mark-paid")
    def mark_paid(self, request, pk=None):
        return Response(self._read(orders.mark_paid(self.get_object(), actor=_actor(request))))

    @extend_schema(request=None, responses=OrderSerializer, summary="Cancel an order that is not paid")
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return Response(self._read(orders.cancel_order(self.get_object(), actor=_actor(request))))


class CatalogProductSerializer(serializers.ModelSerializer):
    class Meta:
        model = CatalogProduct
        fields = ["id", "retailer_id", "name", "price", "currency", "image_url", "source", "is_active", "synced_at"]
        read_only_fields = ["source", "synced_at"]
        extra_kwargs = {"currency": {"required": False}}
        validators = []  # the service checks the unique retailer id (one message, one code)


class SyncResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()


@extend_schema(tags=["orders"])
class CatalogProductViewSet(
    TeamScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin
):
    """The team's catalog products (目錄商品): made by hand, or synced from the Commerce Manager catalog."""

    queryset = CatalogProduct.objects.all()
    serializer_class = CatalogProductSerializer
    required_permissions = {"read": "orders.manage", "write": "orders.settings"}

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        product = catalog.save_product(self.team, **serializer.validated_data)
        return Response(self.get_serializer(product).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        product = self.get_object()
        serializer = self.get_serializer(product, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        current = {
            f: getattr(product, f) for f in ("retailer_id", "name", "price", "currency", "image_url", "is_active")
        }
        product = catalog.save_product(self.team, product=product, **{**current, **serializer.validated_data})
        return Response(self.get_serializer(product).data)

    @extend_schema(request=None, responses=SyncResultSerializer, summary="Sync from the Commerce Manager catalog")
    @action(detail=False, methods=["post"])
    def sync(self, request):
        created, updated = catalog.sync_catalog(self.team)
        return Response({"created": created, "updated": updated})


class PaymentMethodSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=40)
    line = serializers.BooleanField()
    whatsapp = serializers.BooleanField()


class SettingsSerializer(serializers.Serializer):
    email_required = serializers.BooleanField(required=False, help_text="必填 (true, default) or 選填 (false)")
    default_email = serializers.EmailField(required=False, allow_blank=True, help_text="required when 選填")
    payment_methods = serializers.DictField(
        child=PaymentMethodSerializer(),
        required=False,
        help_text="card | cash | cheque | bank; offline methods WhatsApp only",
    )
    payment_provider = serializers.ChoiceField(choices=["sandbox", "stripe"], required=False)
    provider_credentials = serializers.DictField(
        child=serializers.CharField(),
        required=False,
        write_only=True,
        help_text="Stripe: secret_key, webhook_secret (never read back)",
    )
    catalog_id = serializers.CharField(required=False, allow_blank=True, max_length=64)
    cart_enabled = serializers.BooleanField(required=False, help_text="啟用購物車")
    logo_mode = serializers.CharField(read_only=True)
    webhook_url = serializers.CharField(read_only=True)


def _settings_data(team):
    row = shop_settings.get_settings(team)
    return {
        "email_required": row.email_required,
        "default_email": row.default_email,
        "payment_methods": shop_settings.methods(row),
        "payment_provider": row.payment_provider,
        "catalog_id": row.catalog_id,
        "cart_enabled": row.cart_enabled,
        "logo_mode": row.logo_mode,
        "webhook_url": webhook_url(team, "stripe"),
    }


@extend_schema(methods=["GET"], responses=SettingsSerializer, tags=["orders"], summary="對話下單 > 基本設定")
@extend_schema(methods=["PATCH"], request=SettingsSerializer, responses=SettingsSerializer, tags=["orders"])
@api_view(["GET", "PATCH"])
@permission_classes([IsTeamMember])
def settings_view(request):
    team = current_team(request)
    if request.method == "PATCH":
        serializer = SettingsSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        shop_settings.update_settings(team, **serializer.validated_data)
    return Response(_settings_data(team))


settings_view.cls.required_permissions = {"read": "orders.manage", "write": "orders.settings"}
