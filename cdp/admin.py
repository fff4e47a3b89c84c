"""Django admin for every cdp model: search and filters; merge records read-only; credentials masked."""

from django.contrib import admin, messages
from django.utils.html import format_html_join

from . import quota
from .models import (
    AttributeTypeChange,
    AttributeValue,
    Binding,
    Channel,
    Contact,
    CustomAttribute,
    Customer,
    CustomerEvent,
    CustomerTag,
    EventReceipt,
    ImportJob,
    MergeRecord,
    Order,
    PointsTransaction,
    Tag,
)
from .services import channels as channel_service
from .services import identity


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class QuotaRefreshingAdmin(admin.ModelAdmin):
    """Adding or deleting contacts here (a channel's delete cascades to its contacts) moves the quota line."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        quota.schedule_refresh(obj.team_id)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        quota.schedule_refresh(obj.team_id)

    def delete_queryset(self, request, queryset):
        team_ids = set(queryset.values_list("team_id", flat=True))
        super().delete_queryset(request, queryset)
        for team_id in team_ids:
            quota.schedule_refresh(team_id)


@admin.register(Channel)
class ChannelAdmin(QuotaRefreshingAdmin):
    list_display = ["name", "kind", "team", "external_id", "status", "is_sandbox", "created_at"]
    list_filter = ["kind", "status", "is_sandbox", "team"]
    search_fields = ["name", "external_id", "team__slug"]
    exclude = ["credentials"]
    readonly_fields = ["masked_credentials", "webhook_url"]

    @admin.display(description="credentials")
    def masked_credentials(self, obj):
        masked = channel_service.masked(obj.credentials)
        return format_html_join("", "<div><code>{}</code>: {}</div>", masked.items()) or "-"

    @admin.display(description="webhook URL")
    def webhook_url(self, obj):
        return channel_service.webhook_url(obj) or "-"


@admin.register(Contact)
class ContactAdmin(QuotaRefreshingAdmin):
    list_display = ["external_id", "channel", "team", "customer", "status", "source", "is_over_quota", "created_at"]
    list_filter = ["status", "source", "is_over_quota", "channel__kind", "team"]
    search_fields = ["external_id", "phone", "display_name", "business_scoped_id"]
    raw_id_fields = ["channel", "customer"]
    list_select_related = ["channel"]
    show_full_result_count = False


class CustomerTagInline(admin.TabularInline):
    model = CustomerTag
    extra = 0
    raw_id_fields = ["tag", "channel"]
    fields = ["tag", "channel", "source", "applied_at"]


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "team",
        "member_id",
        "phone",
        "email",
        "is_bound",
        "is_member",
        "merged_into",
        "created_at",
    ]
    list_filter = ["is_bound", "is_member", "first_bound_method", "team", ("merged_into", admin.EmptyFieldListFilter)]
    search_fields = ["member_id", "phone", "email", "name"]
    raw_id_fields = ["merged_into"]
    # Points change only through the ledger (services.points), never by editing the balance.
    readonly_fields = ["merged_into", "points_balance", "points_accumulated", "created_at", "updated_at"]
    inlines = [CustomerTagInline]
    show_full_result_count = False


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "archived_at", "created_at"]
    list_filter = ["team", ("archived_at", admin.EmptyFieldListFilter)]
    search_fields = ["name"]


@admin.register(CustomerTag)
class CustomerTagAdmin(admin.ModelAdmin):
    list_display = ["customer", "tag", "channel", "source", "applied_at", "team"]
    list_filter = ["source", "team"]
    search_fields = ["tag__name", "customer__member_id"]
    raw_id_fields = ["customer", "tag", "channel"]


@admin.register(CustomAttribute)
class CustomAttributeAdmin(admin.ModelAdmin):
    list_display = ["key", "label", "type", "team", "archived_at"]
    list_filter = ["type", "team", ("archived_at", admin.EmptyFieldListFilter)]
    search_fields = ["key", "label"]


@admin.register(AttributeTypeChange)
class AttributeTypeChangeAdmin(ReadOnlyAdmin):
    list_display = ["attribute", "old_type", "new_type", "changed_at", "team"]
    list_filter = ["new_type", "team"]
    search_fields = ["attribute__key"]


@admin.register(AttributeValue)
class AttributeValueAdmin(admin.ModelAdmin):
    list_display = ["customer", "attribute", "text_value", "number_value", "datetime_value", "bool_value", "updated_at"]
    list_filter = ["attribute__type", "team"]
    search_fields = ["attribute__key", "text_value", "customer__member_id"]
    raw_id_fields = ["customer", "attribute"]


@admin.register(Binding)
class BindingAdmin(admin.ModelAdmin):
    list_display = ["contact", "customer", "method", "member_id", "bound_at", "team"]
    list_filter = ["method", "team"]
    search_fields = ["member_id", "phone", "email", "contact__external_id"]
    raw_id_fields = ["contact", "customer"]


@admin.register(CustomerEvent)
class CustomerEventAdmin(ReadOnlyAdmin):
    list_display = ["type", "customer", "contact", "channel", "occurred_at", "team"]
    list_filter = ["type", "team"]
    search_fields = ["customer__member_id", "contact__external_id"]
    raw_id_fields = ["customer", "contact", "channel"]
    show_full_result_count = False


@admin.register(PointsTransaction)
class PointsTransactionAdmin(ReadOnlyAdmin):
    """The points ledger is append-only: read it here, change points through the API or the 360° page."""

    list_display = ["customer", "delta", "balance_after", "source", "reason", "occurred_at", "team"]
    list_filter = ["source", "team"]
    search_fields = ["customer__member_id", "idempotency_key", "reason"]
    raw_id_fields = ["customer"]
    show_full_result_count = False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["order_id", "customer", "amount", "currency", "occurred_at", "team"]
    list_filter = ["currency", "team"]
    search_fields = ["order_id", "customer__member_id"]
    raw_id_fields = ["customer"]


@admin.register(MergeRecord)
class MergeRecordAdmin(ReadOnlyAdmin):
    """Read-only; the one action is un-merge (through the identity service)."""

    list_display = ["id", "survivor", "absorbed", "merged_at", "unmerged_at", "unmerged_by", "team"]
    list_filter = ["team", ("unmerged_at", admin.EmptyFieldListFilter)]
    search_fields = ["survivor__member_id", "absorbed__member_id"]
    actions = ["unmerge"]

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Un-merge selected merges")
    def unmerge(self, request, queryset):
        for record in queryset.order_by("-merged_at"):
            try:
                identity.unmerge(merge_record=record, actor=f"admin:{request.user}")
            except identity.UnmergeError as exc:
                self.message_user(request, f"#{record.pk}: {exc}", messages.WARNING)


@admin.register(EventReceipt)
class EventReceiptAdmin(ReadOnlyAdmin):
    list_display = ["event_id", "type", "received_at", "team"]
    list_filter = ["type", "team"]
    search_fields = ["event_id"]


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = [
        "original_name",
        "team",
        "kind",
        "channel",
        "status",
        "total_rows",
        "applied_rows",
        "error_rows",
        "created_at",
    ]
    list_filter = ["status", "team"]
    search_fields = ["original_name"]
    readonly_fields = ["errors", "started_at", "finished_at"]
