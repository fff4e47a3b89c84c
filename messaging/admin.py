from django.contrib import admin

from .models import (
    ChannelState,
    ChatbotModule,
    InboundMessage,
    KeywordRule,
    OutboundMessage,
    WebhookEvent,
    WhatsAppTemplate,
)


@admin.register(OutboundMessage)
class OutboundMessageAdmin(admin.ModelAdmin):
    list_display = ["id", "team", "channel", "contact_id", "origin", "origin_id", "status", "error_reason", "sent_at"]
    list_filter = ["status", "origin"]
    search_fields = ["idempotency_key", "provider_message_id"]
    raw_id_fields = ["contact", "channel", "team"]
    readonly_fields = ["retry_key", "multicast_group"]


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ["id", "team", "channel", "kind", "user_key", "occurred_at", "state", "processed_at", "error"]
    list_filter = ["state", "kind"]
    search_fields = ["dedup_key", "user_key"]
    raw_id_fields = ["channel", "team"]


@admin.register(ChatbotModule)
class ChatbotModuleAdmin(admin.ModelAdmin):
    list_display = ["id", "team", "name", "type", "deleted_at"]
    list_filter = ["type"]


@admin.register(WhatsAppTemplate)
class WhatsAppTemplateAdmin(admin.ModelAdmin):
    list_display = ["id", "team", "channel", "name", "language", "status", "deleted_at"]
    list_filter = ["status", "category"]


@admin.register(KeywordRule)
class KeywordRuleAdmin(admin.ModelAdmin):
    list_display = ["id", "team", "name", "match_type", "trigger_count", "is_active"]


@admin.register(InboundMessage)
class InboundMessageAdmin(admin.ModelAdmin):
    list_display = ["id", "team", "channel", "contact_id", "kind", "occurred_at"]
    raw_id_fields = ["contact", "channel", "team"]


@admin.register(ChannelState)
class ChannelStateAdmin(admin.ModelAdmin):
    list_display = ["channel", "budget_exhausted_at", "budget_reason", "quota_used", "quota_limit", "last_test_ok"]
