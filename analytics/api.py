"""GET /api/v1/analytics/...: the numbers behind every chart of the analytics page, as JSON.

Read-only, team-scoped (the caller's key or session decides the team), permission `analytics.view`. Bad
filters answer 400 in the one error format with the field that is wrong.
"""

from django.core.exceptions import ValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api_auth import IsTeamMember
from accounts.api_base import current_team, error_response
from core.replica import reads_from_replica

from . import services

# --- response serializers (documentation of the JSON shapes) -----------------------------------------------------


class KpisSerializer(serializers.Serializer):
    omni_customers = serializers.IntegerField(
        help_text=(
            "全渠道顧客: active customers after merging that have at least one channel contact (the website "
            "channel counts); a customer known only by a member id is not one until a contact joins it."
        )
    )
    bound_customers = serializers.IntegerField(help_text="社群身份綁定: omni-customers with a social binding.")
    bound_rate = serializers.FloatField(help_text="bound_customers / omni_customers (0..1).")
    members = serializers.IntegerField(help_text="會員身份: omni-customers registered or logged in on the website.")
    member_rate = serializers.FloatField(help_text="members / omni_customers (0..1).")
    bound_members = serializers.IntegerField(help_text="會員完成社群身份綁定: members who are also bound.")
    bound_member_rate = serializers.FloatField(help_text="bound_members / omni_customers (0..1).")
    computed_at = serializers.DateTimeField()


class ChannelRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()


class PeriodSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    label = serializers.CharField()


class OverviewSeriesSerializer(serializers.Serializer):
    channel = ChannelRefSerializer()
    total_contacts = serializers.ListField(child=serializers.IntegerField(), help_text="總聯絡人數 at period end.")
    bound_valid_contacts = serializers.ListField(
        child=serializers.IntegerField(), help_text="總社群身份綁定數: valid and bound contacts at period end."
    )
    new_contacts = serializers.ListField(child=serializers.IntegerField(), help_text="新聯絡人數 in the period.")
    unsubscribes = serializers.ListField(
        child=serializers.IntegerField(),
        help_text=(
            "取消訂閱數: the times a contact stopped being valid by unsubscribing (any scope) or blocking in the "
            "period; several scopes at once count once."
        ),
    )


class OverviewSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    unit = serializers.ChoiceField(choices=list(services.UNITS))
    periods = PeriodSerializer(many=True)
    series = OverviewSeriesSerializer(many=True)


class MethodCountSerializer(serializers.Serializer):
    method = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()


class BindingSourcesSerializer(serializers.Serializer):
    month = serializers.CharField()
    total = serializers.IntegerField()
    methods = MethodCountSerializer(many=True)


class SourceCountSerializer(serializers.Serializer):
    source = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()


class ContactSourcesSerializer(serializers.Serializer):
    month = serializers.CharField()
    total = serializers.IntegerField()
    sources = SourceCountSerializer(many=True)


class ValidCountsSerializer(serializers.Serializer):
    valid = serializers.IntegerField()
    invalid = serializers.IntegerField(help_text="Unsubscribed or blocked.")
    total = serializers.IntegerField()
    valid_rate = serializers.FloatField(help_text="valid / total (0..1).")


class ChannelValidSerializer(ValidCountsSerializer):
    channel = ChannelRefSerializer()


class ValidContactsSerializer(serializers.Serializer):
    total = ValidCountsSerializer()
    channels = ChannelValidSerializer(many=True)


# --- views --------------------------------------------------------------------------------------------------------


class _FigureView(APIView):
    permission_classes = [IsTeamMember]
    required_permissions = {"read": "analytics.view"}
    figure = ""
    serializer_class = None

    @reads_from_replica
    def get(self, request):
        params = {key: request.query_params.get(key) for key in ("start", "end", "unit", "month")}
        params["channels"] = request.query_params.getlist("channels") or None
        try:
            data = services.figure_data(current_team(request), self.figure, params)
        except ValidationError as exc:
            fields = exc.message_dict
            first = next(iter(fields.values()))[0]
            return error_response(first, fields=fields)
        return Response(self.serializer_class(data).data)


MONTH = OpenApiParameter("month", OpenApiTypes.STR, description="YYYY-MM in the team's time zone; default: now.")


@extend_schema(tags=["analytics"], summary="Omni-customer KPIs (全渠道顧客)", responses=KpisSerializer)
class KpisView(_FigureView):
    figure = "kpis"
    serializer_class = KpisSerializer


@extend_schema(
    tags=["analytics"],
    summary="Channel contact overview (渠道聯絡人總覽)",
    description="Total contacts and valid bound contacts at the end of each period; new contacts and "
    "unsubscribes/blocks counted within it. Days are the team's time zone. At most 5 channels.",
    parameters=[
        OpenApiParameter("start", OpenApiTypes.DATE, description="First day (default: 364 days before end)."),
        OpenApiParameter("end", OpenApiTypes.DATE, description="Last day (default: today)."),
        OpenApiParameter("unit", OpenApiTypes.STR, enum=list(services.UNITS), description="Default: month."),
        OpenApiParameter(
            "channels",
            OpenApiTypes.STR,
            description="Channel ids, comma-separated or repeated; at most 5 (default: the first 5).",
        ),
    ],
    responses={200: OverviewSerializer},
    examples=[
        OpenApiExample(
            "Too many channels",
            value={"error": {"code": "invalid", "message": "最多同時選取 5 個渠道。", "fields": {"channels": ["..."]}}},
            response_only=True,
            status_codes=["400"],
        )
    ],
)
class OverviewView(_FigureView):
    figure = "overview"
    serializer_class = OverviewSerializer


@extend_schema(
    tags=["analytics"],
    summary="Social binding sources of a month (社群身份綁定來源)",
    parameters=[MONTH],
    responses=BindingSourcesSerializer,
)
class BindingSourcesView(_FigureView):
    figure = "binding_sources"
    serializer_class = BindingSourcesSerializer


@extend_schema(
    tags=["analytics"],
    summary="New-contact sources of a month (新聯絡人來源), all 20 types",
    parameters=[MONTH],
    responses=ContactSourcesSerializer,
)
class ContactSourcesView(_FigureView):
    figure = "contact_sources"
    serializer_class = ContactSourcesSerializer


@extend_schema(
    tags=["analytics"],
    summary="Valid contacts per channel (社群渠道有效聯絡人)",
    responses=ValidContactsSerializer,
)
class ValidContactsView(_FigureView):
    figure = "valid_contacts"
    serializer_class = ValidContactsSerializer
