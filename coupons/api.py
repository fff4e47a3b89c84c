"""/api/v1/coupons (+ /{id}/codes, /{id}/statistics): the same services as the console."""

import csv
import io

from drf_spectacular.utils import extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.api_base import TeamScopedViewSet

from . import serializers as s
from . import services
from .models import Campaign

READ = "analytics.view"
WRITE = "broadcasts.manage"


@extend_schema(tags=["coupons"])
class CouponViewSet(
    TeamScopedViewSet,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
):
    """優惠券活動 (coupon campaigns). Saving one keeps its coupon card (a chatbot module) in step."""

    queryset = Campaign.objects.all()
    serializer_class = s.CouponCampaignSerializer
    required_permissions = {"read": READ, "write": WRITE}

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        campaign = services.save_campaign(Campaign(team=self.team, **serializer.validated_data))
        return Response(self.get_serializer(campaign).data, status=201)

    def update(self, request, *args, **kwargs):
        campaign = self.get_object()
        serializer = self.get_serializer(campaign, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        for key, value in serializer.validated_data.items():
            setattr(campaign, key, value)
        return Response(self.get_serializer(services.save_campaign(campaign)).data)

    @extend_schema(methods=["get"], responses=s.CodeSerializer(many=True), summary="The campaign's unique code pool")
    @extend_schema(
        methods=["post"],
        request=s.CodesInSerializer,
        responses=s.CodesOutSerializer,
        summary="Generate codes ({generate, prefix}) or import a list ({codes}); duplicates reported, not added",
    )
    @action(detail=True, methods=["get", "post"], url_path="codes")
    def codes(self, request, pk=None):
        campaign = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(campaign.codes.order_by("id"))
            return self.get_paginated_response(s.CodeSerializer(page, many=True).data)
        body = s.CodesInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if body.validated_data.get("generate"):
            added = services.generate_codes(
                campaign, body.validated_data["generate"], prefix=body.validated_data.get("prefix", "")
            )
            return Response({"imported": added, "duplicates": [], "errors": []})
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(["code"])
        for code in body.validated_data["codes"]:
            writer.writerow([code])
        report = services.import_codes(campaign, io.BytesIO(text.getvalue().encode("utf-8")))
        return Response(
            {
                "imported": report.imported,
                "duplicates": [{"index": row - 2, "code": code, "note": note} for row, code, note in report.duplicates],
                "errors": [{"index": row - 2, "message": message} for row, message in report.errors],
            }
        )

    @extend_schema(
        responses=s.CouponStatisticsSerializer, summary="Cards sent, claimed, redeemed, rates, bindings, revenue"
    )
    @action(detail=True, methods=["get"], url_path="statistics")
    def statistics(self, request, pk=None):
        return Response(s.CouponStatisticsSerializer(services.statistics(self.get_object())).data)
