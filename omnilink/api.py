"""REST API: /api/v1/omnilink/campaigns (CRUD, enable / disable / copy), /{id}/statistics and /{id}/participants
(?status=success|failure|pending&start=&end=, cursor-paginated; &format=csv exports, 400 without a range)."""

from django.core.exceptions import ValidationError
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from accounts.api_base import TeamRelatedField, TeamScopedMixin, error_response
from billing.api import CsvRenderer
from cdp.models import Channel
from core.pagination import DefaultCursorPagination

from . import services
from .models import Campaign, FailureReason, Participant, ParticipantStatus

PERMISSION = "broadcasts.manage"


class ParticipantPagination(DefaultCursorPagination):
    """Newest first click first, as the console lists them (index campaign, status, first_clicked_at, id)."""

    ordering = ("-first_clicked_at", "-id")


class CardSerializer(serializers.Serializer):
    image_url = serializers.URLField(max_length=1000)
    title = serializers.CharField(max_length=80)
    text = serializers.CharField(max_length=400, required=False, allow_blank=True, default="")
    button_label = serializers.CharField(max_length=20)


class OmniLinkCampaignSerializer(serializers.ModelSerializer):
    source_channel = TeamRelatedField(queryset=Channel.objects.all())
    target_channel = TeamRelatedField(queryset=Channel.objects.all())
    card = CardSerializer()
    card_module_id = serializers.IntegerField(read_only=True, help_text="the chatbot module to send (broadcasts, …)")

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "source_channel",
            "target_channel",
            "card",
            "card_module_id",
            "integration_message",
            "confirmation_message",
            "is_enabled",
            "ends_at",
            "completion_hours",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]


class ChannelInfoSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    name = serializers.CharField()


class ReasonCountSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=FailureReason.choices)
    label = serializers.CharField()
    count = serializers.IntegerField()


class DaySerializer(serializers.Serializer):
    day = serializers.DateField()
    participants = serializers.IntegerField()
    successes = serializers.IntegerField()
    failures = serializers.IntegerField()


class OmniLinkStatisticsSerializer(serializers.Serializer):
    campaign_id = serializers.IntegerField()
    source_channel = ChannelInfoSerializer()
    target_channel = ChannelInfoSerializer()
    start = serializers.DateField(allow_null=True)
    end = serializers.DateField(allow_null=True)
    participants = serializers.IntegerField(help_text="總參與人數: first clicks (= successes + failures + pending)")
    new_contacts = serializers.IntegerField(help_text="目標渠道 - 新聯絡人")
    successes = serializers.IntegerField()
    failures = serializers.IntegerField()
    pending = serializers.IntegerField(help_text="clicked, still within the completion window")
    failure_reasons = ReasonCountSerializer(many=True)
    days = DaySerializer(many=True)


class ParticipantSerializer(serializers.ModelSerializer):
    name = serializers.SerializerMethodField()
    source_contact_external_id = serializers.CharField(source="source_contact.external_id", default=None)
    target_contact_external_id = serializers.CharField(source="target_contact.external_id", default=None)
    reason_label = serializers.CharField(source="get_reason_display")

    class Meta:
        model = Participant
        fields = [
            "id",
            "name",
            "status",
            "reason",
            "reason_label",
            "source_contact_ref",
            "source_contact",
            "source_contact_external_id",
            "target_contact",
            "target_contact_external_id",
            "customer",
            "first_clicked_at",
            "completed_at",
            "deadline_at",
            "target_is_new",
            "error_ref",
        ]

    def get_name(self, obj) -> str:
        return services.participant_name(obj)


def _save(serializer, team, campaign=None):
    data = {**({} if campaign is None else _current(campaign)), **serializer.validated_data}
    return services.save_campaign(team=team, campaign=campaign, **data)


def _current(campaign):
    fields = ["name", "source_channel", "target_channel", "card", "integration_message", "confirmation_message"]
    fields += ["is_enabled", "ends_at", "completion_hours"]
    return {field: getattr(campaign, field) for field in fields}


def _service_error(exc):
    fields = getattr(exc, "message_dict", None) or {"non_field_errors": exc.messages}
    return error_response(exc.messages[0], fields=fields, code=getattr(exc, "code", None) or "invalid")


RANGE_PARAMS = [
    OpenApiParameter("start", OpenApiTypes.DATE, description="participation (first click) from, team-local"),
    OpenApiParameter("end", OpenApiTypes.DATE, description="to (inclusive); at most 90 days after start"),
]


@extend_schema_view(
    list=extend_schema(summary="OmniLink campaigns (跨社群一鍵整合)"),
    create=extend_schema(summary="Create a campaign (its card becomes a chatbot module of type omnilink_card)"),
)
@extend_schema(tags=["omnilink"])
class CampaignViewSet(
    TeamScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    queryset = Campaign.objects.select_related("source_channel", "target_channel", "card_module").order_by("-id")
    serializer_class = OmniLinkCampaignSerializer
    required_permissions = {"read": PERMISSION, "write": PERMISSION}

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            campaign = _save(serializer, self.team)
        except ValidationError as exc:
            return _service_error(exc)
        return Response(self.get_serializer(campaign).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, partial=False, **kwargs):
        campaign = self.get_object()
        serializer = self.get_serializer(campaign, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        try:
            campaign = _save(serializer, self.team, campaign)
        except ValidationError as exc:
            return _service_error(exc)
        return Response(self.get_serializer(campaign).data)

    @extend_schema(summary="Enable the campaign", request=None)
    @action(detail=True, methods=["post"])
    def enable(self, request, pk=None):
        return Response(self.get_serializer(services.set_enabled(self.get_object(), True)).data)

    @extend_schema(summary="Disable the campaign (clicks then fail: 跨社群一鍵整合已停用)", request=None)
    @action(detail=True, methods=["post"])
    def disable(self, request, pk=None):
        return Response(self.get_serializer(services.set_enabled(self.get_object(), False)).data)

    @extend_schema(summary="Copy the campaign (a disabled copy with its own card)", request=None)
    @action(detail=True, methods=["post"])
    def copy(self, request, pk=None):
        campaign = services.copy_campaign(self.get_object())
        return Response(self.get_serializer(campaign).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="活動統計: the seed's figures, failures by reason, per-day series",
        parameters=RANGE_PARAMS,
        responses=OmniLinkStatisticsSerializer,
    )
    @action(detail=True, methods=["get"])
    def statistics(self, request, pk=None):
        campaign = self.get_object()
        try:
            params = request.query_params
            first, last = services.parse_range(self.team, params.get("start"), params.get("end"))
        except ValidationError as exc:
            return _service_error(exc)
        return Response(OmniLinkStatisticsSerializer(services.statistics(campaign, first, last)).data)

    @extend_schema(
        summary="Participants (整合成功 / 整合失敗 / pending), cursor-paginated; CSV with format=csv and a range",
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=ParticipantStatus.values),
            *RANGE_PARAMS,
            OpenApiParameter("format", OpenApiTypes.STR, enum=["json", "csv"]),
        ],
        responses={200: ParticipantSerializer(many=True), (200, "text/csv"): OpenApiTypes.STR},
    )
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, CsvRenderer])
    def participants(self, request, pk=None):
        campaign = self.get_object()
        params = request.query_params
        csv = request.accepted_renderer.format == "csv"
        try:
            first, last = services.parse_range(self.team, params.get("start"), params.get("end"))
            rows = services.participant_list(campaign, params.get("status") or None, first, last)
            if csv:
                lines = services.csv_lines(campaign, params.get("status") or None, first, last)
        except ValidationError as exc:
            # DRF renders with the request's negotiated renderer: errors are JSON even for format=csv.
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), "application/json"
            return _service_error(exc)
        if csv:
            response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="omnilink-{campaign.pk}-participants.csv"'
            return response
        paginator = ParticipantPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(ParticipantSerializer(page, many=True).data)
