"""Orders read-only in admin, with a cancel action that calls the service (state machine, transition row)."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from core.errors import ServiceError

from .models import Order, OrderItem, OrderTransition, PaymentEvent
from .services import orders


class ReadOnly:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ItemInline(ReadOnly, admin.TabularInline):
    model = OrderItem
    fields = ["name", "sku", "quantity", "unit_price"]
    extra = 0


class TransitionInline(ReadOnly, admin.TabularInline):
    model = OrderTransition
    fields = ["at", "from_status", "to_status", "event", "actor"]
    extra = 0


@admin.action(description=_("取消訂單"))
def cancel_orders(modeladmin, request, queryset):
    done = 0
    for order in queryset:
        try:
            orders.cancel_order(order, actor=f"admin:{request.user.get_username()}")
            done += 1
        except ServiceError as exc:
            modeladmin.message_user(request, f"{order.number}: {exc}", messages.WARNING)
    modeladmin.message_user(request, _("已取消 %(n)s 張訂單。") % {"n": done})


@admin.register(Order)
class OrderAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["number", "team", "status", "source", "channel", "total", "currency", "created_at", "paid_at"]
    list_filter = ["status", "source"]
    search_fields = ["number"]
    list_select_related = ["team", "channel"]
    inlines = [ItemInline, TransitionInline]
    actions = [cancel_orders]

    def has_change_permission(self, request, obj=None):
        return obj is None  # the list (and its action) is available; rows stay read-only


@admin.register(PaymentEvent)
class PaymentEventAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["event_id", "team", "provider", "type", "state", "error", "received_at"]
    list_filter = ["provider", "state"]
