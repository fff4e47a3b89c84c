from django.contrib import admin, messages

from . import services
from .models import ApiKey, Membership, OutboundWebhookDelivery, Team


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "time_zone", "currency", "contact_quota", "created_at"]
    search_fields = ["name", "slug", "billing_email"]
    list_filter = ["time_zone", "currency"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "team", "role", "created_at"]
    list_filter = ["role", "team"]
    search_fields = ["user__username", "user__email", "team__name", "team__slug"]
    autocomplete_fields = ["user", "team"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created through the console, the API or `create_api_key`: the raw key is never stored."""

    list_display = ["name", "team", "prefix", "role", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["role", "team"]
    search_fields = ["name", "prefix", "team__slug"]
    readonly_fields = ["team", "prefix", "key_hash", "created_by", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        count = sum(services.revoke_api_key(team=key.team, api_key_id=key.pk) for key in queryset)
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)


@admin.register(OutboundWebhookDelivery)
class OutboundWebhookDeliveryAdmin(admin.ModelAdmin):
    """Read-only: deliveries are written by the services and the sending worker, never by hand."""

    list_display = [
        "id",
        "team",
        "event_type",
        "state",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "created_at",
    ]
    list_filter = ["state", "event_type", "team"]
    search_fields = ["team__slug", "event_type", "last_error"]
    date_hierarchy = "created_at"
    list_select_related = ["team"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
