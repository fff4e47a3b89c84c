"""REST API: audience packs (/api/v1/audiences), ad-hoc counts, broadcasts (/api/v1/broadcasts)."""

from django.db import transaction
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.api_base import TeamRelatedField, TeamScopedMixin, error_response
from cdp.models import Channel
from core.params import parse_id
from core.replica import reads_from_replica

from . import conditions as cond
from . import services
from .models import AudiencePack, Broadcast

CONDITIONS_EXAMPLE = {
    "op": "and",
    "children": [
        {"type": "tag", "op": "has", "match": "all", "tags": ["VIP", "回購"]},
        {
            "op": "or",
            "children": [
                {"type": "attribute", "key": "city", "op": "equals", "value": "台北"},
                {"type": "points_balance", "op": "gte", "value": 500},
            ],
        },
        {"type": "last_customer_interaction", "op": "within_last_days", "days": 30},
    ],
}


@extend_schema_field(cond.openapi_schema())
class ConditionsField(serializers.JSONField):
    pass


class AudiencePackSerializer(serializers.ModelSerializer):
    channel = TeamRelatedField(queryset=Channel.objects.all())
    conditions = ConditionsField()
    channel_kind = serializers.CharField(source="channel.kind", read_only=True)
    is_archived = serializers.BooleanField(read_only=True)

    class Meta:
        model = AudiencePack
        fields = [
            "id",
            "name",
            "channel",
            "channel_kind",
            "conditions",
            "is_archived",
            "archived_at",
            "last_count",
            "last_counted_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["archived_at", "last_count", "last_counted_at", "created_at", "updated_at"]


class CountRequestSerializer(serializers.Serializer):
    channel = TeamRelatedField(queryset=Channel.objects.all())
    conditions = ConditionsField()


class CountSerializer(serializers.Serializer):
    count = serializers.IntegerField()


class PreviewContactSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    customer_id = serializers.IntegerField()
    external_id = serializers.CharField()
    display_name = serializers.CharField()
    subscribed_at = serializers.DateTimeField(allow_null=True)
    last_customer_interaction_at = serializers.DateTimeField(allow_null=True)


class PreviewSerializer(serializers.Serializer):
    results = PreviewContactSerializer(many=True)
    next_after = serializers.IntegerField(allow_null=True, help_text="pass as ?after= for the next page")


def _error(exc):
    return error_response(
        exc.message,
        fields={exc.field: [exc.message]},
        code="conflict" if exc.conflict else "invalid",
        http_status=status.HTTP_409_CONFLICT if exc.conflict else status.HTTP_400_BAD_REQUEST,
    )


class _Base(TeamScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    pass


@extend_schema(tags=["audiences"])
class AudiencePackViewSet(_Base, viewsets.GenericViewSet):
    """Audience packs (受眾包). Conditions are validated: a bad tree answers 400 naming the path of the bad node."""

    queryset = AudiencePack.objects.select_related("channel")
    serializer_class = AudiencePackSerializer
    required_permissions = {"read": "audiences.manage", "write": "audiences.manage"}

    def scope_queryset(self, queryset):
        archived = self.request.query_params.get("archived")
        if archived in ("1", "true"):
            queryset = queryset.filter(archived_at__isnull=False)
        elif archived in ("0", "false"):
            queryset = queryset.filter(archived_at__isnull=True)
        return queryset

    @extend_schema(
        parameters=[OpenApiParameter("archived", bool, description="only archived (true) or active (false)")],
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        examples=[
            OpenApiExample("VIP in Taipei", value={"name": "VIP", "channel": 1, "conditions": CONDITIONS_EXAMPLE})
        ]
    )
    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            pack = services.create_pack(
                team=self.team, name=data["name"], channel=data["channel"], conditions=data["conditions"]
            )
        except services.AudienceError as exc:
            return _error(exc)
        return Response(self.get_serializer(pack).data, status=status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        pack = self.get_object()
        serializer = self.get_serializer(pack, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            with transaction.atomic():
                services.update_pack(
                    pack, name=data.get("name"), conditions=data.get("conditions"), channel=data.get("channel")
                )
        except services.AudienceError as exc:
            return _error(exc)
        return Response(self.get_serializer(pack).data)

    def partial_update(self, request, pk=None):
        return self.update(request, pk=pk, partial=True)

    @extend_schema(summary="Archive (a pack in use by an unsent broadcast can still be archived)")
    def destroy(self, request, pk=None):
        services.archive_pack(self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=AudiencePackSerializer, summary="Archive the pack")
    @action(detail=True, methods=["post"])
    def archive(self, request, pk=None):
        return Response(self.get_serializer(services.archive_pack(self.get_object())).data)

    @extend_schema(request=None, responses=AudiencePackSerializer, summary="Re-activate an archived pack")
    @action(detail=True, methods=["post"])
    def reactivate(self, request, pk=None):
        return Response(self.get_serializer(services.reactivate_pack(self.get_object())).data)

    @extend_schema(request=None, responses={201: AudiencePackSerializer}, summary="Copy: a new pack, same conditions")
    @action(detail=True, methods=["post"])
    def copy(self, request, pk=None):
        pack = services.copy_pack(self.get_object())
        return Response(self.get_serializer(pack).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        responses=CountSerializer,
        summary="Count the pack now (and remember the count)",
        operation_id="audiences_pack_count",
    )
    @action(detail=True, methods=["post"], url_path="count")
    @reads_from_replica
    def count_pack(self, request, pk=None):
        try:
            return Response({"count": services.refresh_pack_count(self.get_object())})
        except services.AudienceError as exc:
            return _error(exc)

    @extend_schema(
        responses=PreviewSerializer,
        parameters=[OpenApiParameter("after", int, description="the next_after of the previous page")],
        summary="Matching contacts, 50 a page, newest first",
    )
    @action(detail=True, methods=["get"])
    @reads_from_replica
    def contacts(self, request, pk=None):
        pack = self.get_object()
        after = request.query_params.get("after")
        if after is not None and parse_id(after) is None:
            return error_response("after must be an integer", fields={"after": ["must be an integer"]})
        try:
            rows = services.preview(
                team=self.team, channel=pack.channel, conditions=pack.conditions, after_id=parse_id(after)
            )
        except services.AudienceError as exc:
            return _error(exc)
        next_after = rows[-1].pk if len(rows) == services.PREVIEW_PAGE else None
        return Response({"results": PreviewContactSerializer(rows, many=True).data, "next_after": next_after})

    @extend_schema(
        request=CountRequestSerializer,
        responses=CountSerializer,
        summary="Count ad-hoc conditions on a channel",
        examples=[OpenApiExample("count", value={"channel": 1, "conditions": CONDITIONS_EXAMPLE}, request_only=True)],
    )
    @action(detail=False, methods=["post"], url_path="count")
    @reads_from_replica
    def count(self, request):
        serializer = CountRequestSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        try:
            n = services.count_audience(team=self.team, **serializer.validated_data)
        except services.AudienceError as exc:
            return _error(exc)
        return Response({"count": n})


# -------------------------------------------------------------------------------------------------- broadcasts


@extend_schema_field(
    {
        "type": "object",
        "description": 'Outbox content: {"type": "module", "module_id": N} or '
        '{"type": "whatsapp_template", "template_id": N, "parameters": ["..."]} or (WeChat) '
        '{"type": "wechat_template", "template_id": "...", "data": {"first": "..."}, "url": "https://..."}',
    }
)
class ContentField(serializers.JSONField):
    pass


class BroadcastSerializer(serializers.ModelSerializer):
    channel = TeamRelatedField(queryset=Channel.objects.all())
    pack = TeamRelatedField(queryset=AudiencePack.objects.all(), required=False, allow_null=True)
    content = ContentField(required=False)
    custom_conditions = ConditionsField(required=False, allow_null=True)
    status = serializers.CharField(read_only=True)
    can_change_pack = serializers.BooleanField(read_only=True)
    can_apply_custom_conditions = serializers.BooleanField(read_only=True)
    can_edit_pack = serializers.BooleanField(read_only=True)

    class Meta:
        model = Broadcast
        fields = [
            "id",
            "name",
            "channel",
            "content",
            "pack",
            "custom_conditions",
            "status",
            "scheduled_at",
            "snapshot_taken_at",
            "recipient_count",
            "started_at",
            "finished_at",
            "cancelled_at",
            "can_change_pack",
            "can_apply_custom_conditions",
            "can_edit_pack",
            "created_at",
        ]
        read_only_fields = [
            "scheduled_at",
            "snapshot_taken_at",
            "recipient_count",
            "started_at",
            "finished_at",
            "cancelled_at",
            "created_at",
        ]


class ScheduleSerializer(serializers.Serializer):
    scheduled_at = serializers.DateTimeField()


class ApplyConditionsSerializer(serializers.Serializer):
    conditions = ConditionsField(required=False, help_text="omit to copy the pack's conditions")


class ReportSerializer(serializers.Serializer):
    snapshot = serializers.IntegerField()
    recipients = serializers.IntegerField()
    sent = serializers.IntegerField()
    failed = serializers.IntegerField()
    failures_by_reason = serializers.DictField(child=serializers.IntegerField())
    skipped = serializers.DictField(child=serializers.IntegerField())
    opens = serializers.IntegerField(allow_null=True)
    reads = serializers.IntegerField(allow_null=True)
    replies = serializers.IntegerField()
    clicks = serializers.IntegerField()
    cost = serializers.CharField()
    simulated = serializers.IntegerField(help_text="successful sends through a sandbox channel: simulated, cost 0")


@extend_schema(tags=["broadcasts"])
class BroadcastViewSet(_Base, viewsets.GenericViewSet):
    """Broadcasts (推播). Draft: everything editable; scheduled: only the pack itself (edit the pack). 409 otherwise."""

    queryset = Broadcast.objects.select_related("channel", "pack")
    serializer_class = BroadcastSerializer
    required_permissions = {"read": "broadcasts.manage", "write": "broadcasts.manage"}

    def _run(self, func, *args, **kwargs):
        try:
            with transaction.atomic():
                result = func(*args, **kwargs)
        except services.AudienceError as exc:
            return _error(exc)
        return Response(self.get_serializer(result).data)

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            broadcast = services.save_broadcast(
                team=self.team,
                name=data["name"],
                channel=data["channel"],
                content=data.get("content"),
                pack=data.get("pack"),
                custom_conditions=data.get("custom_conditions"),
            )
        except services.AudienceError as exc:
            return _error(exc)
        return Response(self.get_serializer(broadcast).data, status=status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        broadcast = self.get_object()
        serializer = self.get_serializer(broadcast, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        changes = {key: data[key] for key in ("content", "pack", "custom_conditions") if key in data}
        return self._run(
            services.save_broadcast,
            team=self.team,
            broadcast=broadcast,
            name=data.get("name"),
            channel=data.get("channel"),
            **changes,
        )

    def partial_update(self, request, pk=None):
        return self.update(request, pk=pk, partial=True)

    @extend_schema(request=ScheduleSerializer, responses=BroadcastSerializer, summary="Schedule (draft → scheduled)")
    @action(detail=True, methods=["post"])
    def schedule(self, request, pk=None):
        broadcast = self.get_object()
        serializer = ScheduleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        at = serializer.validated_data["scheduled_at"]
        return self._run(services.save_broadcast, team=self.team, broadcast=broadcast, then="schedule", at=at)

    @extend_schema(request=None, responses=BroadcastSerializer, summary="Back to draft (before the snapshot)")
    @action(detail=True, methods=["post"])
    def unschedule(self, request, pk=None):
        return self._run(services.unschedule, self.get_object())

    @extend_schema(request=None, responses=BroadcastSerializer, summary="Send now (snapshot now, then send)")
    @action(detail=True, methods=["post"])
    def send(self, request, pk=None):
        return self._run(services.save_broadcast, team=self.team, broadcast=self.get_object(), then="send_now")

    @extend_schema(request=None, responses=BroadcastSerializer, summary="Cancel a draft or scheduled broadcast")
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._run(services.cancel, self.get_object())

    @extend_schema(
        request=ApplyConditionsSerializer,
        responses=BroadcastSerializer,
        summary="Apply to custom conditions (draft only): copy the pack's conditions into this broadcast",
    )
    @action(detail=True, methods=["post"], url_path="apply-custom-conditions")
    def apply_custom_conditions(self, request, pk=None):
        broadcast = self.get_object()
        serializer = ApplyConditionsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._run(services.apply_custom_conditions, broadcast, serializer.validated_data.get("conditions"))

    @extend_schema(responses=ReportSerializer, summary="Broadcast report (seed 003's counting rules)")
    @action(detail=True, methods=["get"])
    @reads_from_replica
    def report(self, request, pk=None):
        broadcast = self.get_object()
        data = services.report(broadcast)
        return Response({key: (str(value) if key == "cost" else value) for key, value in data.items()})
