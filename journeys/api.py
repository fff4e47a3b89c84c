"""REST API for journeys: definitions (draft graph, settings), publish, status actions, statistics, enrollments."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.response import Response

from accounts.api_base import TeamScopedViewSet
from core.params import parse_id
from core.replica import reads_from_replica

from . import services, stats
from .graph import NODE_TYPES
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


class MoneySerializer(serializers.Serializer):
    amount = serializers.CharField(help_text='A decimal string, e.g. "1500.00" (never an exponent).')
    currency = serializers.CharField(help_text="ISO 4217 code, e.g. TWD.")


class AttributedSerializer(MoneySerializer):
    orders = serializers.IntegerField()


class RoasSerializer(serializers.Serializer):
    multiple = serializers.FloatField(allow_null=True, help_text="Revenue / message cost, e.g. 3.2 (shown 3.2×).")
    currency = serializers.CharField(allow_null=True, help_text="The currency both were counted in.")
    converted = serializers.BooleanField(help_text="Counted through the team's exchange rates.")
    reason_code = serializers.ChoiceField(choices=["no_cost", "no_exchange_rate"], allow_null=True)
    reason = serializers.CharField(allow_null=True, help_text="Why there is no multiple (shown to the user).")


class HoldoutGroupSerializer(serializers.Serializer):
    entrants = serializers.IntegerField()
    revenue = MoneySerializer(many=True)
    per_entrant = MoneySerializer(many=True)


class HoldoutLiftSerializer(serializers.Serializer):
    currency = serializers.CharField()
    lift = serializers.FloatField(allow_null=True, help_text="(treated − held out) / held out, per entrant.")


class HoldoutSerializer(serializers.Serializer):
    treated = HoldoutGroupSerializer()
    holdout = HoldoutGroupSerializer()
    lift = HoldoutLiftSerializer(many=True)


class NodeMessageFiguresSerializer(serializers.Serializer):
    platform = serializers.CharField(help_text="The node channel's platform: line, whatsapp, messenger, ...")
    successful_sends = serializers.IntegerField(help_text="Sent, delivered or read: every rate's denominator.")
    opens = serializers.IntegerField(allow_null=True, help_text="LINE only.")
    open_rate = serializers.FloatField(allow_null=True, help_text="LINE only: opens / successful sends.")
    reads = serializers.IntegerField(allow_null=True, help_text="WhatsApp only.")
    read_rate = serializers.FloatField(allow_null=True, help_text="WhatsApp only: reads / successful sends.")
    replies = serializers.IntegerField()
    reply_rate = serializers.FloatField(allow_null=True, help_text="Replies within 24 h / successful sends.")
    clicks = serializers.IntegerField()
    ctr = serializers.FloatField(allow_null=True, help_text="Button / link clicks / successful sends.")
    simulated = serializers.IntegerField(help_text="Successful sends through a sandbox channel (cost nothing).")
    cost = MoneySerializer(many=True)
    refreshed_at = serializers.DateTimeField(allow_null=True)


class NodeStatisticsSerializer(serializers.Serializer):
    id = serializers.CharField()
    type = serializers.ChoiceField(choices=list(NODE_TYPES))
    reached = serializers.IntegerField()
    waiting = serializers.IntegerField()
    message = NodeMessageFiguresSerializer(allow_null=True, help_text="Message nodes only; null for the others.")


class JourneyStatisticsSerializer(serializers.Serializer):
    version = serializers.IntegerField(allow_null=True, help_text="The version asked for; null: every version.")
    nodes_version = serializers.IntegerField(allow_null=True, help_text="The version whose nodes are listed.")
    triggers = serializers.IntegerField()
    completions = serializers.IntegerField()
    completion_rate = serializers.FloatField(allow_null=True)
    active = serializers.IntegerField()
    held_out = serializers.IntegerField()
    messages = serializers.IntegerField()
    successful = serializers.IntegerField()
    simulated = serializers.IntegerField()
    revenue = AttributedSerializer(many=True, help_text="Click-driven orders' revenue, one entry per currency.")
    orders = serializers.IntegerField(help_text="Click-driven orders, all currencies.")
    view_through = AttributedSerializer(many=True, help_text="Secondary: orders after a send with no click.")
    cost = MoneySerializer(many=True, help_text="Message cost estimate, one entry per currency.")
    roas = RoasSerializer()
    holdout = HoldoutSerializer(allow_null=True)
    attribution_window_days = serializers.IntegerField()
    refreshed_at = serializers.DateTimeField(allow_null=True)
    nodes = serializers.DictField(child=NodeStatisticsSerializer(), help_text="By node id, in the graph's order.")


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
        parameters=[
            OpenApiParameter(
                "version",
                int,
                description="A published version's id: that version's overview and nodes. Without it the overview "
                "sums every version and the nodes are the current version's (as the console page).",
            )
        ],
        responses={200: JourneyStatisticsSerializer},
        summary="Statistics (what the console's statistics page shows)",
        description="Overview (seed 002) and each node's figures (seed 003; the rates' denominator is successful "
        "sends). Money is a decimal string with its currency, one entry per currency (amounts in different "
        "currencies are never added); ROAS is a number (a multiple) or null with `reason`. Live: triggers, "
        "completions, active, held_out, and each node's reached / waiting; the rest is refreshed hourly "
        "(`refreshed_at`). Definitions: README 「旅程數據」 and journeys/stats.py.",
        tags=["journeys"],
    )
    @action(detail=True, methods=["get"])
    @reads_from_replica
    def statistics(self, request, pk=None):
        journey = self.get_object()
        version = None
        if "version" in request.query_params:
            version_id = parse_id(request.query_params["version"])
            version = journey.versions.filter(pk=version_id).first() if version_id is not None else None
            if version is None:
                raise DRFValidationError({"version": ["Not a published version of this journey."]})
        data = stats.journey_statistics(journey, version)
        return Response(JourneyStatisticsSerializer(_statistics_payload(data)).data)


def _amount(value):
    """A decimal string, never an exponent: 1500 → "1500.00"; a cost of 4 decimals keeps them (0.0375)."""
    value = Decimal(value)
    cents = value.quantize(Decimal("0.01"))
    return format(cents if cents == value else value.normalize(), "f")


def _money(by_currency):
    return [{"amount": _amount(amount), "currency": currency} for currency, amount in by_currency.items()]


def _statistics_payload(data):
    overview = data["overview"]
    roas = overview["roas"]
    holdout = overview["holdout"]
    if holdout:
        holdout = {
            **{
                group: {
                    "entrants": holdout[group]["entrants"],
                    "revenue": _money(holdout[group]["revenue"]),
                    "per_entrant": _money(holdout[group]["per_entrant"]),
                }
                for group in ("treated", "holdout")
            },
            "lift": [
                {"currency": c, "lift": float(lift) if lift is not None else None}
                for c, lift in holdout["lift"].items()
            ],
        }
    nodes = {}
    for node in data["nodes"]:
        figures = node["message"]
        if figures is not None:
            figures = {**figures, "cost": _money(figures["cost"])}
        nodes[node["id"]] = {k: node[k] for k in ("id", "type", "reached", "waiting")} | {"message": figures}
    return {
        "version": data["selected"].pk if data["selected"] else None,
        "nodes_version": data["version"].pk if data["version"] else None,
        **{k: overview[k] for k in ("triggers", "completions", "completion_rate", "active", "held_out")},
        **{k: overview[k] for k in ("messages", "successful", "simulated", "orders", "refreshed_at")},
        "revenue": [
            {"amount": _amount(row["amount"]), "currency": c, "orders": row["orders"]}
            for c, row in overview["revenue"].items()
        ],
        "view_through": [
            {"amount": _amount(row["amount"]), "currency": c, "orders": row["orders"]}
            for c, row in overview["view_through"].items()
        ],
        "cost": _money(overview["cost"]),
        "roas": {
            "multiple": roas.multiple,
            "currency": roas.currency,
            "converted": roas.converted,
            "reason_code": roas.reason_code,
            "reason": roas.reason,
        },
        "holdout": holdout,
        "attribution_window_days": data["journey"].team.attribution_window_days,
        "nodes": nodes,
    }


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
