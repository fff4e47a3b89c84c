from django import forms
from django.contrib import admin, messages

from . import services
from .forms import AdminLoginForm
from .models import ApiKey, Membership, OutboundWebhookDelivery, Team

admin.site.login_form = AdminLoginForm  # the same sign-in throttle as the console


class MembershipInline(admin.TabularInline):
    """Read-only here: members are added, changed and removed on the membership pages, which go through the
    service that keeps a team's last owner (services.check_membership_change)."""

    model = Membership
    extra = 0
    fields = ["user", "role", "created_at"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "time_zone", "currency", "contact_quota", "created_at"]
    search_fields = ["name", "slug", "billing_email"]
    list_filter = ["time_zone", "currency"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


class MembershipAdminForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["user", "team", "role"]

    def clean(self):
        cleaned = super().clean()
        stored = Membership.objects.filter(pk=self.instance.pk).first() if self.instance.pk else None
        if "role" in cleaned:
            try:
                services.check_membership_change(membership=stored, role=cleaned["role"], acting=None)
            except services.RoleError as exc:
                self.add_error(None, exc)
        return cleaned


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    """The platform operator may give any role, but a team keeps at least one owner: every change and delete
    goes through accounts.services, which refuses to remove the last one."""

    form = MembershipAdminForm
    list_display = ["user", "team", "role", "created_at"]
    list_filter = ["role", "team"]
    search_fields = ["user__username", "user__email", "team__name", "team__slug"]
    autocomplete_fields = ["user", "team"]

    def get_readonly_fields(self, request, obj=None):
        # Moving a membership to another team or user would take an owner away from its team unchecked.
        return ["user", "team"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        obj.pk = services.add_member(team=obj.team, user=obj.user, role=obj.role, acting=None).pk

    def get_actions(self, request):
        # The bulk delete skips the last-owner rule; members are removed one by one (delete_view below).
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request, obj=None):
        if obj is not None:
            try:
                services.check_membership_change(membership=obj, role=None, acting=None)
            except services.RoleError:
                return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        services.remove_member(team=obj.team, membership=obj, acting=None)


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
