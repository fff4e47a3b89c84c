"""REST API: chatbot modules, WhatsApp templates, outbound messages (send + status), keyword rules."""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.api_base import TeamModelSerializer, TeamScopedModelViewSet, TeamScopedViewSet
from cdp.models import Contact

from . import stats
from .models import ChatbotModule, KeywordRule, ModuleType, Origin, OutboundMessage, WhatsAppTemplate
from .services import content as content_service
from .services import outbox
from .services import templates as template_service


def _django_errors(exc):
    return serializers.ValidationError(getattr(exc, "message_dict", None) or {"non_field_errors": exc.messages})


class ChatbotModuleSerializer(serializers.ModelSerializer):
    type = serializers.ChoiceField(choices=ModuleType.choices)

    class Meta:
        model = ChatbotModule
        fields = ["id", "name", "type", "content", "created_at", "updated_at", "deleted_at"]
        read_only_fields = ["id", "created_at", "updated_at", "deleted_at"]

    def validate(self, attrs):
        module_type = attrs.get("type", getattr(self.instance, "type", None))
        content = attrs.get("content", getattr(self.instance, "content", None))
        try:
            content_service.validate_module_content(module_type, content)
        except DjangoValidationError as exc:
            raise _django_errors(exc) from exc
        return attrs


@extend_schema_view(
    list=extend_schema(summary="List chatbot modules (機器人模組)"),
    destroy=extend_schema(summary="Delete a module: recorded (deleted_at) and signalled to journeys"),
)
class ChatbotModuleViewSet(TeamScopedModelViewSet):
    queryset = ChatbotModule.objects.filter(deleted_at__isnull=True).order_by("-id")
    serializer_class = ChatbotModuleSerializer
    required_permissions = {"read": "journeys.manage", "write": "journeys.manage"}

    def perform_destroy(self, instance):
        template_service.delete_module(instance)


class WhatsAppTemplateSerializer(serializers.ModelSerializer):
    class Meta:
        model = WhatsAppTemplate
        fields = [
            "id",
            "channel",
            "name",
            "language",
            "category",
            "body",
            "components",
            "parameter_count",
            "status",
            "unusable_reason",
            "synced_at",
            "deleted_at",
        ]
        read_only_fields = fields


@extend_schema_view(list=extend_schema(summary="List WhatsApp templates"))
class WhatsAppTemplateViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, TeamScopedViewSet
):
    queryset = WhatsAppTemplate.objects.filter(deleted_at__isnull=True).order_by("name", "id")
    serializer_class = WhatsAppTemplateSerializer
    required_permissions = {"read": "journeys.manage", "write": "channels.manage"}

    def perform_destroy(self, instance):
        template_service.delete_template(instance)


class OutboundMessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = OutboundMessage
        fields = [
            "id",
            "channel",
            "contact",
            "content",
            "origin",
            "origin_id",
            "idempotency_key",
            "status",
            "error_code",
            "error_reason",
            "provider_message_id",
            "created_at",
            "sent_at",
            "delivered_at",
            "read_at",
            "opened_at",
            "clicked_at",
            "replied_at",
            "cost",
            "cost_currency",
        ]
        read_only_fields = fields


class SendSerializer(serializers.Serializer):
    contact = serializers.IntegerField(help_text="Contact id")
    content = serializers.JSONField(help_text='{"type": "text", "text": "..."} | module | whatsapp_template')
    idempotency_key = serializers.CharField(max_length=150)

    def validate_contact(self, value):
        contact = Contact.objects.for_team(self.context["team"]).select_related("channel").filter(pk=value).first()
        if contact is None:
            raise serializers.ValidationError("Unknown contact.")
        return contact

    def validate(self, attrs):
        try:
            attrs["content"] = content_service.check_sendable(
                self.context["team"], attrs["contact"].channel, attrs["content"]
            )
        except DjangoValidationError as exc:
            raise _django_errors(exc) from exc
        return attrs


class StatsSerializer(serializers.Serializer):
    recipients = serializers.IntegerField()
    sent = serializers.IntegerField()
    failed = serializers.IntegerField()
    failures_by_reason = serializers.DictField(child=serializers.IntegerField())
    opens = serializers.IntegerField()
    open_rate = serializers.FloatField()
    reads = serializers.IntegerField()
    read_rate = serializers.FloatField()
    replies = serializers.IntegerField()
    reply_rate = serializers.FloatField()
    clicks = serializers.IntegerField()
    ctr = serializers.FloatField()
    cost = serializers.DecimalField(
        max_digits=14,
        decimal_places=4,
        allow_null=True,
        help_text="the estimated cost when every successful send shares one currency (cost_currency); null when they "
        "do not: read cost_by_currency, amounts in different currencies are never added",
    )
    cost_currency = serializers.CharField(help_text="the currency of cost; empty when null or nothing cost anything")
    cost_by_currency = serializers.DictField(
        child=serializers.DecimalField(max_digits=14, decimal_places=4),
        help_text="currency code → estimated cost of the successful sends in that currency",
    )
    simulated = serializers.IntegerField(help_text="successful sends through a sandbox channel: simulated, cost 0")


@extend_schema_view(
    list=extend_schema(summary="List outbound messages (the outbox) with their statuses"),
    create=extend_schema(
        summary="Send a message (agent origin), idempotent by idempotency_key", request=SendSerializer
    ),
)
class OutboundMessageViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, TeamScopedViewSet
):
    queryset = OutboundMessage.objects.order_by("-id")
    serializer_class = OutboundMessageSerializer
    required_permissions = {"read": "conversations.view", "write": "conversations.reply"}
    filterset_fields = ["origin", "origin_id", "status", "contact", "channel"]

    def create(self, request, *args, **kwargs):
        serializer = SendSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        contact = serializer.validated_data["contact"]
        message, created = outbox.enqueue(
            team=self.team,
            channel=contact.channel,
            contact=contact,
            content=serializer.validated_data["content"],
            origin=Origin.AGENT,
            origin_id="api",
            idempotency_key=f"api:{serializer.validated_data['idempotency_key']}",
        )
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(OutboundMessageSerializer(message).data, status=code)

    @extend_schema(summary="seed 003 statistics of the filtered messages", responses=StatsSerializer)
    @action(detail=False, methods=["get"])
    def stats(self, request):
        return Response(StatsSerializer(stats.summarize(self.filter_queryset(self.get_queryset()))).data)


class KeywordRuleSerializer(TeamModelSerializer):
    keywords = serializers.ListField(child=serializers.CharField(max_length=100), min_length=1)
    tags = serializers.ListField(child=serializers.CharField(max_length=100), required=False)

    class Meta:
        model = KeywordRule
        fields = [
            "id",
            "name",
            "channel",
            "keywords",
            "match_type",
            "reply_text",
            "reply_module",
            "assign_staff",
            "assign_branch",
            "tags",
            "is_active",
            "trigger_count",
            "last_triggered_at",
        ]
        read_only_fields = ["id", "trigger_count", "last_triggered_at"]

    def validate_reply_module(self, value):
        if value is not None and value.deleted_at:
            raise serializers.ValidationError("Unknown module.")
        return value

    def create(self, validated_data):
        import secrets

        validated_data.setdefault("join_token", secrets.token_urlsafe(12))
        return super().create(validated_data)


@extend_schema_view(list=extend_schema(summary="List keyword auto-reply / auto-assign rules"))
class KeywordRuleViewSet(TeamScopedModelViewSet):
    queryset = KeywordRule.objects.order_by("-id")
    serializer_class = KeywordRuleSerializer
    required_permissions = {"read": "autoreply.manage", "write": "autoreply.manage"}
