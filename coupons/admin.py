from django.contrib import admin

from . import services
from .models import Campaign, Claim


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "code_mode", "starts_at", "ends_at", "total_quantity", "per_customer_limit"]
    list_filter = ["code_mode"]
    search_fields = ["name", "team__name"]
    raw_id_fields = ["module"]
    readonly_fields = ["module", "created_at"]

    def save_model(self, request, obj, form, change):
        services.save_campaign(obj)  # keeps the coupon card in step, as the console and API do


@admin.register(Claim)
class ClaimAdmin(admin.ModelAdmin):
    """Claims are written by the claim page and redemptions: read-only here."""

    list_display = ["code", "campaign", "customer", "claimed_at", "redeemed_at", "order_id"]
    search_fields = ["code", "order_id"]
    raw_id_fields = ["campaign", "customer", "contact", "pool_code"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
