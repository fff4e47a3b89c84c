"""/api/v1/customers: list / filter, and the customer's tags, attributes, points and bindings."""

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.response import Response

from accounts.api_base import TeamScopedViewSet, error_response

from .. import serializers as s
from ..filters import CustomerApiFilter
from ..models import (
    Contact,
    Customer,
    PointsSource,
)
from ..services import attributes, identity, points, tags
from .common import EDIT, VIEW, _raise


@extend_schema_view(
    retrieve=extend_schema(responses=s.CustomerDetailSerializer),
)
class CustomerViewSet(TeamScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Omni-customers (active ones: customers absorbed by a merge are not listed)."""

    queryset = Customer.objects.all()
    serializer_class = s.CustomerSerializer
    required_permissions = {"read": VIEW, "write": EDIT, "bind": EDIT}
    filterset_class = CustomerApiFilter

    def scope_queryset(self, queryset):
        if self.action == "list":
            return queryset.filter(merged_into__isnull=True)
        return queryset

    def get_serializer_class(self):
        return s.CustomerDetailSerializer if self.action == "retrieve" else s.CustomerSerializer

    def _detail(self, customer):
        customer.refresh_from_db()
        return Response(s.CustomerDetailSerializer(customer).data)

    @extend_schema(request=s.TagsInSerializer, responses=s.CustomerDetailSerializer, summary="Add tags")
    @action(detail=True, methods=["post"], url_path="tags")
    def add_tags(self, request, pk=None):
        customer = self.get_object()
        body = s.TagsInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            tags.add_tags(customer=customer, names=body.validated_data["tags"], source="api")
        except ValidationError as exc:
            _raise(exc)
        return self._detail(customer)

    @extend_schema(request=s.TagsInSerializer, responses=s.CustomerDetailSerializer, summary="Remove tags")
    @action(detail=True, methods=["post"], url_path="tags/remove")
    def remove_tags(self, request, pk=None):
        customer = self.get_object()
        body = s.TagsInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        tags.remove_tags(customer=customer, names=body.validated_data["tags"], source="api")
        return self._detail(customer)

    @extend_schema(request=s.AttributesInSerializer, responses=s.CustomerDetailSerializer, summary="Set attributes")
    @action(detail=True, methods=["post"], url_path="attributes")
    def set_attributes(self, request, pk=None):
        customer = self.get_object()
        body = s.AttributesInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            attributes.set_attributes(customer=customer, values=body.validated_data["attributes"], source="api")
        except ValidationError as exc:
            _raise(exc)
        return self._detail(customer)

    @extend_schema(
        methods=["POST"],
        request=s.PointsInSerializer,
        responses={200: s.PointsResultSerializer},
        summary="Add or deduct points (one ledger row; idempotent by idempotency_key)",
    )
    @extend_schema(
        methods=["GET"],
        responses=s.PointsTransactionSerializer(many=True),
        summary="The customer's points ledger, newest first (cursor-paginated)",
    )
    @action(detail=True, methods=["get", "post"], url_path="points")
    def points(self, request, pk=None):
        customer = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(points.history(self.team, customer))
            return self.get_paginated_response(s.PointsTransactionSerializer(page, many=True).data)
        body = s.PointsInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        key = data.get("idempotency_key") or request.headers.get("Idempotency-Key", "")
        try:
            entry = points.adjust_points(
                customer=customer,
                delta=data["delta"],
                reason=data.get("reason", ""),
                source=PointsSource.API,
                # Namespaced like the product's own keys (journey:, order:, console:), so a caller's key never
                # collides with them.
                idempotency_key=f"api:{key.strip()}" if key.strip() else "",
            )
        except ValidationError as exc:
            _raise(exc)
        customer.refresh_from_db()
        customer.transaction, customer.replayed = entry, entry.replayed
        return Response(s.PointsResultSerializer(customer).data)

    @extend_schema(
        request=s.BindInSerializer,
        responses={200: s.CustomerDetailSerializer},
        summary="Bind a contact to a member identity (409 on a member id conflict)",
    )
    @action(detail=False, methods=["post"], url_path="bind")
    def bind(self, request):
        body = s.BindInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        contact = Contact.objects.for_team(self.team).filter(pk=data["contact"]).first()
        if contact is None:
            raise DRFValidationError({"contact": ["Unknown contact."]})
        try:
            result = identity.bind_contact(
                contact=contact,
                method=data["method"],
                member_id=data.get("member_id", ""),
                phone=data.get("phone", ""),
                email=data.get("email", ""),
            )
        except ValidationError as exc:
            _raise(exc)
        if result.status == "member_id_conflict":
            return error_response(
                "member id conflict",
                code="member_id_conflict",
                fields={"member_id": [f"The contact's customer already has member id {result.customer.member_id}."]},
                http_status=status.HTTP_409_CONFLICT,
            )
        return self._detail(result.customer)
