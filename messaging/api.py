"""REST API: chatbot modules, WhatsApp templates, outbound messages (send + status), keyword rules."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.response import Response

from accounts.api_auth import IsTeamMember
from accounts.api_base import (
    TeamModelSerializer,
    TeamScopedModelViewSet,
    TeamScopedViewSet,
    current_team,
    error_response,
)
from billing import services as ledger
from cdp.models import Contact

from . import stats
from .models import (
    EDITABLE_MODULE_TYPES,
    ChatbotModule,
    CommentRule,
    KeywordRule,
    ModuleType,
    Origin,
    OutboundMessage,
    WhatsAppTemplate,
)
from .services import content as content_service
from .services import outbox
from .services import sms as sms_service
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
        if module_type not in EDITABLE_MODULE_TYPES:
            # An OmniLink card is made and edited with its campaign (/api/v1/omnilink/campaigns).
            raise serializers.ValidationError({"type": [_("OmniLink 卡片請在跨社群一鍵整合活動中編輯。")]})
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
    content = serializers.JSONField(
        help_text='{"type": "text", "text": "..."} | module | whatsapp_template | wechat_template'
    )
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
            "starts_phone_binding",
            "is_active",
            "trigger_count",
            "last_triggered_at",
        ]
        read_only_fields = ["id", "trigger_count", "last_triggered_at"]

    def validate_reply_module(self, value):
        if value is not None and value.deleted_at:
            raise serializers.ValidationError("Unknown module.")
        return value

    def validate(self, attrs):
        rule = self.instance
        channel = attrs["channel"] if "channel" in attrs else getattr(rule, "channel", None)
        module = attrs["reply_module"] if "reply_module" in attrs else getattr(rule, "reply_module", None)
        error = content_service.reply_module_error(self.context["team"], channel, module)
        if error:
            raise serializers.ValidationError({"reply_module": [error]})
        return attrs

    def create(self, validated_data):
        import secrets

        validated_data.setdefault("join_token", secrets.token_urlsafe(12))
        return super().create(validated_data)


@extend_schema_view(list=extend_schema(summary="List keyword auto-reply / auto-assign rules"))
class KeywordRuleViewSet(TeamScopedModelViewSet):
    queryset = KeywordRule.objects.order_by("-id")
    serializer_class = KeywordRuleSerializer
    required_permissions = {"read": "autoreply.manage", "write": "autoreply.manage"}


class CommentRuleSerializer(TeamModelSerializer):
    keywords = serializers.ListField(child=serializers.CharField(max_length=100), required=False)

    class Meta:
        model = CommentRule
        fields = [
            "id",
            "name",
            "channel",
            "any_comment",
            "keywords",
            "match_type",
            "reply_text",
            "is_active",
            "trigger_count",
            "last_triggered_at",
        ]
        read_only_fields = ["id", "trigger_count", "last_triggered_at"]

    def validate_channel(self, value):
        if value is not None and value.kind not in ("facebook", "instagram"):
            raise serializers.ValidationError("Comment rules are for Facebook and Instagram channels.")
        return value

    def validate(self, attrs):
        any_comment = attrs.get("any_comment", getattr(self.instance, "any_comment", False))
        keywords = attrs.get("keywords", getattr(self.instance, "keywords", []))
        if not any_comment and not keywords:
            raise serializers.ValidationError({"keywords": "Keywords, or any_comment: true."})
        return attrs


@extend_schema_view(list=extend_schema(summary="List comment rules (private replies to post / live comments)"))
class CommentRuleViewSet(TeamScopedModelViewSet):
    queryset = CommentRule.objects.order_by("-id")
    serializer_class = CommentRuleSerializer
    required_permissions = {"read": "autoreply.manage", "write": "autoreply.manage"}


# --- SMS (seed 004) ------------------------------------------------------------------------------------------


def _actor(request):
    """Who made a paid send, for the ledger: the member's email or the API key's name."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.email or user.pk}"
    key = getattr(request, "auth", None)
    return f"api_key:{getattr(key, 'name', '') or getattr(key, 'pk', '')}"


class _ContactField(serializers.IntegerField):
    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        contact = Contact.objects.for_team(self.context["team"]).select_related("channel", "customer")
        contact = contact.filter(pk=value).first()
        if contact is None:
            raise serializers.ValidationError("Unknown contact.")
        return contact


class QuickSmsSerializer(serializers.Serializer):
    contact_id = _ContactField(help_text="The contact (e.g. a LINE contact) whose customer the SMS goes to")
    text = serializers.CharField(max_length=sms_service.MAX_TEXT, trim_whitespace=True)
    idempotency_key = serializers.CharField(
        max_length=100, required=False, help_text="Repeat a request safely: the same key sends and debits once"
    )


class PhoneBindingStartSerializer(serializers.Serializer):
    contact_id = _ContactField()
    phone = serializers.CharField(max_length=32, help_text="Any format; normalised to E.164 (team's region)")


class PhoneBindingVerifySerializer(PhoneBindingStartSerializer):
    code = serializers.CharField(max_length=12)


class SmsResultSerializer(serializers.Serializer):
    message_id = serializers.IntegerField()
    status = serializers.CharField()
    recipient = serializers.CharField(help_text="E.164")
    segments = serializers.IntegerField(help_text="則 billed")
    price = serializers.DecimalField(max_digits=12, decimal_places=4)
    currency = serializers.CharField()
    balance = serializers.DecimalField(max_digits=14, decimal_places=4, help_text="after the debit")


class PhoneBindingStartedSerializer(serializers.Serializer):
    message_id = serializers.IntegerField()
    phone = serializers.CharField()
    expires_at = serializers.DateTimeField()
    segments = serializers.IntegerField()
    price = serializers.DecimalField(max_digits=12, decimal_places=4)


class PhoneBindingVerifiedSerializer(serializers.Serializer):
    status = serializers.CharField(help_text="bound | already_bound")
    customer_id = serializers.IntegerField()
    phone = serializers.CharField()


def _sms_result(team, message):
    return {
        "message_id": message.pk,
        "status": message.status,
        "recipient": message.recipient,
        "segments": message.segments,
        "price": message.cost,
        "currency": team.currency,
        "balance": ledger.balance(team),
    }


def _sms_refused(exc):
    return error_response(exc.message, code=exc.code, http_status=status.HTTP_402_PAYMENT_REQUIRED)


def _validated(serializer_class, request):
    serializer = serializer_class(data=request.data, context={"team": current_team(request)})
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


SMS_ERRORS = {400: OpenApiResponse(description="invalid input (code invalid)")}
REFUSED = OpenApiResponse(description="balance below the grace amount (code balance_blocked): nothing debited")


@extend_schema(
    summary="「LINE 通知快捷發送簡訊」: send an SMS to the contact's phone, 1 per 則 from the balance",
    request=QuickSmsSerializer,
    responses={201: SmsResultSerializer, 200: SmsResultSerializer, 402: REFUSED, **SMS_ERRORS},
    tags=["sms"],
)
@api_view(["POST"])
@permission_classes([IsTeamMember])
def quick_sms_view(request):
    team = current_team(request)
    data = _validated(QuickSmsSerializer, request)
    try:
        message, created = sms_service.quick_send(
            team=team,
            contact=data["contact_id"],
            text=data["text"],
            actor=_actor(request),
            idempotency_key=data.get("idempotency_key", ""),
        )
    except DjangoValidationError as exc:
        raise _django_errors(exc) from exc
    except sms_service.SmsRefused as exc:
        return _sms_refused(exc)
    return Response(_sms_result(team, message), status=201 if created else 200)


quick_sms_view.cls.required_permissions = {"read": "sms.send", "write": "sms.send"}


@extend_schema(
    summary="「手機綁定發送簡訊」: send a one-time code to a phone the contact claims (valid 10 minutes)",
    request=PhoneBindingStartSerializer,
    responses={
        201: PhoneBindingStartedSerializer,
        402: REFUSED,
        429: OpenApiResponse(description="too many codes for this contact or phone"),
        **SMS_ERRORS,
    },
    tags=["sms"],
)
@api_view(["POST"])
@permission_classes([IsTeamMember])
def phone_binding_start_view(request):
    team = current_team(request)
    data = _validated(PhoneBindingStartSerializer, request)
    try:
        record = sms_service.start_binding(
            team=team, contact=data["contact_id"], phone=data["phone"], actor=_actor(request)
        )
    except DjangoValidationError as exc:
        raise _django_errors(exc) from exc
    except sms_service.SmsRefused as exc:
        return _sms_refused(exc)
    except sms_service.BindingRefused as exc:
        return error_response(exc.message, code=exc.code, http_status=exc.status)
    body = {
        "message_id": record.message_id,
        "phone": record.phone,
        "expires_at": record.expires_at,
        "segments": record.message.segments,
        "price": record.message.cost,
    }
    return Response(PhoneBindingStartedSerializer(body).data, status=201)


phone_binding_start_view.cls.required_permissions = {"read": "sms.send", "write": "sms.send"}


@extend_schema(
    summary="Check the code; on success bind the phone to the contact's customer (method sms_code)",
    request=PhoneBindingVerifySerializer,
    responses={
        200: PhoneBindingVerifiedSerializer,
        409: OpenApiResponse(description="member_id_conflict: the phone belongs to a different member"),
        429: OpenApiResponse(description="too many wrong codes"),
        **SMS_ERRORS,
    },
    tags=["sms"],
)
@api_view(["POST"])
@permission_classes([IsTeamMember])
def phone_binding_verify_view(request):
    team = current_team(request)
    data = _validated(PhoneBindingVerifySerializer, request)
    try:
        result = sms_service.verify_binding(
            team=team, contact=data["contact_id"], phone=data["phone"], code=data["code"]
        )
    except DjangoValidationError as exc:
        raise _django_errors(exc) from exc
    except sms_service.BindingRefused as exc:
        return error_response(exc.message, code=exc.code, http_status=exc.status)
    if result.status == "member_id_conflict":
        return error_response(
            "The phone belongs to a customer with a different member id.", code="member_id_conflict", http_status=409
        )
    body = {"status": result.status, "customer_id": result.customer.pk, "phone": result.customer.phone}
    return Response(PhoneBindingVerifiedSerializer(body).data)


phone_binding_verify_view.cls.required_permissions = {"read": "sms.send", "write": "sms.send"}
