"""/api/v1/customers: list / filter, and the customer's tags, attributes, points and bindings."""

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.response import Response

from accounts.api_base import TeamScopedViewSet, error_response
from accounts.params import parse_id

from .. import serializers as s
from ..models import (
    AttributeValue,
    Contact,
    CustomAttribute,
    Customer,
    CustomerTag,
)
from ..phones import normalize_phone
from ..services import attributes, customers, identity, tags
from .common import EDIT, VIEW, _bool, _raise


def filter_customers(queryset, team, params):
    """search / tag / attribute / bound / member / channel filters; related rows via Exists() subqueries."""
    q = (params.get("search") or "").strip()
    if q:
        match = Q(member_id=q) | Q(email=q.lower()) | Q(name__istartswith=q)
        try:
            match |= Q(phone=normalize_phone(q, team.default_region or "TW"))
        except ValidationError:
            pass  # not a phone number: search the other fields only
        match |= Exists(Contact.objects.filter(team=team, customer=OuterRef("pk"), external_id=q))
        queryset = queryset.filter(match)
    for name in params.getlist("tag") if hasattr(params, "getlist") else [params.get("tag")]:
        if name:
            tag_id = parse_id(name)
            tag_filter = Q(tag__name=name) | (Q(tag_id=tag_id) if tag_id is not None else Q(pk__in=[]))
            queryset = queryset.filter(
                Exists(CustomerTag.objects.filter(tag_filter, team=team, customer=OuterRef("pk")))
            )
    for spec in params.getlist("attribute") if hasattr(params, "getlist") else [params.get("attribute")]:
        if spec:
            key, sep, raw = spec.partition(":")
            attribute = CustomAttribute.objects.for_team(team).filter(key=key).first()
            if attribute is None:
                raise DRFValidationError({"attribute": [f"Unknown attribute: {key}"]})
            values = AttributeValue.objects.filter(team=team, attribute=attribute, customer=OuterRef("pk"))
            if sep:
                try:
                    columns = attributes.convert(attribute, raw, team.zone)
                except ValueError as exc:
                    raise DRFValidationError({"attribute": [f"{key}: {exc}"]})
                values = values.filter(**{k: v for k, v in (columns or {}).items() if v is not None})
            queryset = queryset.filter(Exists(values))
    for key, column in (("bound", "is_bound"), ("member", "is_member")):
        value = _bool(params.get(key))
        if value is not None:
            queryset = queryset.filter(**{column: value})
    if params.get("channel"):
        channel_id = parse_id(params["channel"])
        if channel_id is None:
            raise DRFValidationError({"channel": ["Must be an integer."]})
        queryset = queryset.filter(
            Exists(Contact.objects.filter(team=team, channel_id=channel_id, customer=OuterRef("pk")))
        )
    return queryset


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("search", str, description="Member id, phone, email, name prefix or a channel id"),
            OpenApiParameter("tag", str, description="Tag name or id (repeatable; all must match)"),
            OpenApiParameter("attribute", str, description="key (has a value) or key:value (repeatable)"),
            OpenApiParameter("bound", bool),
            OpenApiParameter("member", bool),
            OpenApiParameter("channel", int, description="Has a contact on this channel"),
        ]
    ),
    retrieve=extend_schema(responses=s.CustomerDetailSerializer),
)
class CustomerViewSet(TeamScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Omni-customers (active ones: customers absorbed by a merge are not listed)."""

    queryset = Customer.objects.all()
    serializer_class = s.CustomerSerializer
    required_permissions = {"read": VIEW, "write": EDIT, "bind": EDIT}
    filter_backends = []

    def scope_queryset(self, queryset):
        if self.action == "list":
            return filter_customers(queryset.filter(merged_into__isnull=True), self.team, self.request.query_params)
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

    @extend_schema(request=s.PointsInSerializer, responses=s.CustomerDetailSerializer, summary="Adjust points")
    @action(detail=True, methods=["post"], url_path="points")
    def points(self, request, pk=None):
        customer = self.get_object()
        body = s.PointsInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            customers.adjust_points(
                customer=customer, delta=body.validated_data["delta"], reason=body.validated_data.get("reason", "")
            )
        except ValidationError as exc:
            _raise(exc)
        return self._detail(customer)

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
