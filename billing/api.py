"""/api/v1/billing/…: balance, transactions (the ledger), usage (JSON or CSV) and monthly SMS bills. Read-only:
money moves only through billing.services (admin, management commands, the SMS features)."""

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins
from rest_framework.decorators import api_view, permission_classes, renderer_classes
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from accounts.api_auth import IsTeamMember
from accounts.api_base import TeamScopedViewSet, current_team, error_response

from . import serializers as s
from . import services, usage
from .filters import TransactionFilter, UsageFilterForm
from .models import MonthlyBill, Transaction

VIEW = "billing.view"


@extend_schema(summary="Account balance (帳戶餘額)", responses=s.BalanceSerializer, tags=["billing"])
@api_view(["GET"])
@permission_classes([IsTeamMember])
def balance_view(request):
    team = current_team(request)
    account = services.get_account(team)
    data = {
        "balance": account.balance,
        "currency": team.currency,
        "low_balance_threshold": account.low_balance_threshold,
        "grace_amount": account.grace_amount,
        "blocked": account.blocked,
    }
    return Response(s.BalanceSerializer(data).data)


balance_view.cls.required_permissions = {"read": VIEW}


class TeamTransactionFilter(TransactionFilter):
    """The ledger filter as the API's filterset: the team comes from the API key."""

    def __init__(self, data=None, queryset=None, *, request=None, **kwargs):
        super().__init__(data, team=current_team(request), request=request, **kwargs)


@extend_schema_view(
    list=extend_schema(summary="The ledger (交易紀錄), newest first; filter by type and team-local dates"),
    retrieve=extend_schema(summary="One ledger transaction"),
)
@extend_schema(tags=["billing"])
class TransactionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    queryset = Transaction.objects.all()
    serializer_class = s.TransactionSerializer
    filterset_class = TeamTransactionFilter
    required_permissions = {"read": VIEW}


@extend_schema_view(
    list=extend_schema(summary="Monthly SMS bills (SMS 費用帳單), newest first"),
    retrieve=extend_schema(summary="One monthly SMS bill with its lines by feature and channel"),
)
@extend_schema(tags=["billing"])
class MonthlyBillViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    queryset = MonthlyBill.objects.all()
    serializer_class = s.MonthlyBillSerializer
    required_permissions = {"read": VIEW}


class CsvRenderer(BaseRenderer):
    """Lets `?format=csv` through DRF's content negotiation; the view answers CSV itself."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes | str) else JSONRenderer().render(data)


@extend_schema(
    summary="Usage statistics by month, feature and channel (JSON, or CSV with ?format=csv)",
    parameters=[
        OpenApiParameter("product", OpenApiTypes.STR, enum=["sms", "whatsapp"], description="default: all"),
        OpenApiParameter("month_from", OpenApiTypes.STR, description="YYYY-MM, team-local; default 11 months ago"),
        OpenApiParameter("month_to", OpenApiTypes.STR, description="YYYY-MM, team-local; default this month"),
        OpenApiParameter("format", OpenApiTypes.STR, enum=["json", "csv"]),
    ],
    responses={200: s.UsageSerializer, (200, "text/csv"): OpenApiTypes.STR},
    tags=["billing"],
)
@api_view(["GET"])
@permission_classes([IsTeamMember])
@renderer_classes([JSONRenderer, CsvRenderer])
def usage_view(request):
    team = current_team(request)
    form = UsageFilterForm(request.query_params)
    if not form.is_valid():
        response = error_response(
            "Invalid usage filter.", fields={k: [str(e) for e in v] for k, v in form.errors.items()}
        )
        response.accepted_renderer = JSONRenderer()
        response.accepted_media_type = "application/json"
        return response
    rows = usage.usage_rows(team, **{key: form.cleaned_data[key] for key in ("product", "month_from", "month_to")})
    if request.accepted_renderer.format == "csv":
        response = StreamingHttpResponse(usage.usage_csv(team, rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="usage.csv"'
        return response
    return Response(s.UsageSerializer({"currency": team.currency, "results": rows}).data)


usage_view.cls.required_permissions = {"read": VIEW}
