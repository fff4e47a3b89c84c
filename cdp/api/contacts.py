"""/api/v1/contacts."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.response import Response

from accounts.api_base import TeamScopedViewSet
from core.params import parse_id

from .. import serializers as s
from ..models import (
    Contact,
)
from ..services import binding_links
from .common import EDIT, VIEW


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("channel", int),
            OpenApiParameter("external_id", str),
            OpenApiParameter("status", str, enum=["subscribed", "unsubscribed", "blocked"]),
            OpenApiParameter("source", str),
            OpenApiParameter("customer", int),
        ]
    )
)
class ContactViewSet(TeamScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Channel contacts (one person on one channel)."""

    queryset = Contact.objects.all()
    serializer_class = s.ContactSerializer
    required_permissions = {"read": VIEW, "write": EDIT}
    filter_backends = []

    def scope_queryset(self, queryset):
        params = self.request.query_params
        for key in ("channel", "customer"):
            if params.get(key):
                if parse_id(params[key]) is None:
                    raise DRFValidationError({key: ["Must be an integer."]})
                queryset = queryset.filter(**{f"{key}_id": parse_id(params[key])})
        for key in ("external_id", "status", "source"):
            if params.get(key):
                queryset = queryset.filter(**{key: params[key]})
        return queryset

    @extend_schema(
        request=s.BindingLinkInSerializer,
        responses=s.BindingLinkSerializer,
        summary="A website URL carrying the contact's binding link token (method optional)",
    )
    @action(detail=True, methods=["post"], url_path="binding-link")
    def binding_link(self, request, pk=None):
        contact = self.get_object()
        body = s.BindingLinkInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        link = binding_links.make_link(contact, url=body.validated_data["url"], method=body.validated_data["method"])
        return Response(s.BindingLinkSerializer(link).data)
