"""REST API for journeys: definitions (draft graph, settings), publish, status actions, statistics, enrollments."""

from django.core.exceptions import ValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.response import Response

from accounts.api_base import TeamScopedViewSet
from core.params import parse_id

from . import services, stats
from .models import Enrollment, Journey, TriggerType
from .statemachine import Action, JourneyStatus, StatusReason, actions_for, warning_for

PERM = "journeys.manage"


def _raise(exc):
    if hasattr(exc, "error_dict"):
        raise DRFValidationError(exc.message_dict)
    raise DRFValidationError({"non_field_errors": exc.messages})


class ChannelTargetSerializer(serializers.Serializer):
    channel_id = serializers.IntegerField()
    message_cap = serializers.IntegerField(required=False, allow_null=True, min_value=1)


class JourneySerializer(serializers.ModelSerializer):
    # Declared: DRF drops allow_blank from read-only model fields, and the schema would then refuse "".
    status_reason = serializers.ChoiceField(choices=StatusReason.choices, read_only=True, allow_blank=True)
    actions = serializers.SerializerMethodField()
    warning = serializers.SerializerMethodField()
    channels = serializers.SerializerMethodField()
    current_version = serializers.SerializerMethodField()

    class Meta:
        model = Journey
        fields = [
            "id",
            "name",
            "status",
            "status_reason",
            "status_changed_at",
            "warning",
            "actions",
            "trigger_type",
            "trigger_config",
            "activation",
            "starts_at",
            "ends_at",
            "expiry_action",
            "dnd_segments",
            "per_customer_limit",
            "holdout_percent",
            "trigger_count",
            "max_triggers",
            "channels",
            "current_version",
            "draft_graph",
            "has_unpublished_changes",
            "created_at",
        ]
        read_only_fields = fields

    def get_actions(self, obj) -> list[str]:
        return [a.value for a in actions_for(obj.status)]

    def get_warning(self, obj) -> str | None:
        message = warning_for(obj.status_reason)
        return str(message) if message else None

    def get_channels(self, obj) -> list[dict]:
        return [{"channel_id": t.channel_id, "message_cap": t.message_cap} for t in obj.targets.all()]

    def get_current_version(self, obj) -> dict | None:
        version = obj.current_version
        if version is None:
            return None
        return {
            "id": version.pk,
            "number": version.number,
            "graph": version.graph,
            "published_at": version.published_at,
        }


class JourneyWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    trigger_type = serializers.ChoiceField(choices=TriggerType.choices, required=False)
    trigger_config = serializers.DictField(required=False)
    activation = serializers.ChoiceField(choices=["permanent", "scheduled"], required=False)
    starts_at = serializers.DateTimeField(required=False, allow_null=True)
    ends_at = serializers.DateTimeField(required=False, allow_null=True)
    expiry_action = serializers.ChoiceField(choices=["close_trigger", "stop"], required=False)
    dnd_segments = serializers.ListField(child=serializers.ListField(child=serializers.CharField()), required=False)
    per_customer_limit = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    holdout_percent = serializers.IntegerField(required=False, min_value=0, max_value=50)
    channels = ChannelTargetSerializer(many=True, required=False)
    graph = serializers.JSONField(required=False, help_text="The draft graph {'nodes': [...]}; see journeys/graph.py")


class ActionSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=[Action.CLOSE_TRIGGER, Action.STOP, Action.COPY])


class EnrollmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Enrollment
        fields = [
            "id",
            "journey",
            "version",
            "customer",
            "contact",
            "node",
            "state",
            "waiting",
            "next_run_at",
            "holdout",
            "entered_at",
            "finished_at",
            "reason",
        ]
        read_only_fields = fields


EXAMPLE = OpenApiExample(
    "A checkout journey",
    value={
        "name": "購買後關懷",
        "trigger_type": "checkout_completed",
        "trigger_config": {"amount_gte": "1000"},
        "channels": [{"channel_id": 1, "message_cap": 5000}],
        "dnd_segments": [["23:00", "23:59"], ["00:00", "08:00"]],
        "graph": {"nodes": [{"id": "n1", "type": "delay", "config": {"days": 1}}]},
    },
    request_only=True,
)


@extend_schema_view(
    list=extend_schema(summary="Journeys", tags=["journeys"]),
    retrieve=extend_schema(summary="One journey", tags=["journeys"]),
    destroy=extend_schema(summary="Delete (draft, scheduled or stopped only)", tags=["journeys"]),
)
class JourneyViewSet(TeamScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin):
    queryset = Journey.objects.select_related("current_version").prefetch_related("targets").order_by("-id")
    serializer_class = JourneySerializer
    required_permissions = {"read": PERM, "write": PERM}

    def scope_queryset(self, queryset):
        params = self.request.query_params
        if params.get("status") in JourneyStatus.values:
            queryset = queryset.filter(status=params["status"])
        if params.get("trigger_type") in TriggerType.values:
            queryset = queryset.filter(trigger_type=params["trigger_type"])
        if params.get("q"):
            queryset = queryset.filter(name__icontains=params["q"])
        return queryset

    def _apply(self, journey, data):
        values = {key: value for key, value in data.items() if key != "graph"}
        try:
            if values:
                services.update_settings(journey, values=values)
            if "graph" in data:
                services.set_graph(journey, data["graph"])
        except ValidationError as exc:
            _raise(exc)

    @extend_schema(
        request=JourneyWriteSerializer, responses={201: JourneySerializer}, examples=[EXAMPLE], tags=["journeys"]
    )
    def create(self, request):
        serializer = JourneyWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        from django.db import transaction

        try:
            with transaction.atomic():
                journey = services.create_journey(
                    team=self.team,
                    name=data.pop("name", ""),
                    trigger_type=data.get("trigger_type", "checkout_completed"),
                    trigger_config=data.get("trigger_config") or {},
                )
                self._apply(journey, data)
        except ValidationError as exc:
            _raise(exc)
        return Response(JourneySerializer(journey).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=JourneyWriteSerializer, responses=JourneySerializer, tags=["journeys"])
    def partial_update(self, request, pk=None):
        journey = self.get_object()
        serializer = JourneyWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        from django.db import transaction

        with transaction.atomic():
            self._apply(journey, dict(serializer.validated_data))
        journey.refresh_from_db()
        return Response(JourneySerializer(journey).data)

    def destroy(self, request, pk=None):
        journey = self.get_object()
        try:
            services.run_action(journey, "delete")
        except ValidationError as exc:
            _raise(exc)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=JourneySerializer, summary="Publish a new version", tags=["journeys"])
    @action(detail=True, methods=["post"])
    def publish(self, request, pk=None):
        journey = self.get_object()
        try:
            services.publish(journey, actor=f"api:{request.auth.prefix}" if hasattr(request.auth, "prefix") else "api")
        except ValidationError as exc:
            _raise(exc)
        journey.refresh_from_db()
        return Response(JourneySerializer(journey).data)

    @extend_schema(request=ActionSerializer, responses=JourneySerializer, summary="close_trigger, stop or copy")
    @action(detail=True, methods=["post"], url_path="action")
    def run_action(self, request, pk=None):
        journey = self.get_object()
        serializer = ActionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            result = services.run_action(journey, serializer.validated_data["action"])
        except ValidationError as exc:
            _raise(exc)
        result.refresh_from_db()
        return Response(JourneySerializer(result).data)

    @extend_schema(
        request=None,
        responses=OpenApiTypes.OBJECT,
        summary="Overview statistics",
        description="triggers, completions, completion_rate, messages, successful, simulated (successful sends "
        "through a sandbox channel, which cost 0), revenue, orders, cost (per currency), roas, holdout lift, "
        "refreshed_at, and `nodes` {node id: reached, waiting, per-platform message statistics}. "
        "Definitions: journeys/stats.py.",
        tags=["journeys"],
    )
    @action(detail=True, methods=["get"])
    def statistics(self, request, pk=None):
        journey = self.get_object()
        data = stats.overview(journey)
        data["nodes"] = stats.node_counts(journey.current_version) if journey.current_version else {}
        return Response(_plain(data))


def _plain(value):
    from decimal import Decimal

    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Decimal):
        return str(value)
    return value


@extend_schema_view(
    list=extend_schema(summary="Enrollments (filter ?journey=)", tags=["journeys"]),
    retrieve=extend_schema(summary="One enrollment", tags=["journeys"]),
)
class EnrollmentViewSet(TeamScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    queryset = Enrollment.objects.order_by("-id")
    serializer_class = EnrollmentSerializer
    required_permissions = {"read": PERM}

    def scope_queryset(self, queryset):
        journey = self.request.query_params.get("journey")
        if parse_id(journey) is not None:
            queryset = queryset.filter(journey_id=parse_id(journey))
        return queryset
