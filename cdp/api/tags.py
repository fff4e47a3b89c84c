"""/api/v1/tags and /api/v1/attributes (attribute definitions)."""

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.api_base import TeamScopedViewSet

from .. import serializers as s
from ..models import (
    CustomAttribute,
    Tag,
)
from ..services import attributes, tags
from .common import EDIT, VIEW, _raise


class TagViewSet(TeamScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin):
    """Tags. PATCH renames; POST …/archive archives (archived tags stay on customers, cannot be applied)."""

    queryset = Tag.objects.all()
    serializer_class = s.TagSerializer
    required_permissions = {"read": VIEW, "write": EDIT}

    def create(self, request):
        body = s.TagSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            tag = tags.create_tag(self.team, body.validated_data["name"])
        except ValidationError as exc:
            _raise(exc)
        return Response(s.TagSerializer(tag).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.TagSerializer, responses=s.TagSerializer, summary="Rename a tag")
    def partial_update(self, request, pk=None):
        tag = self.get_object()
        body = s.TagSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            tags.rename_tag(tag, body.validated_data["name"])
        except ValidationError as exc:
            _raise(exc)
        return Response(s.TagSerializer(tag).data)

    @extend_schema(request=None, responses=s.TagSerializer, summary="Archive a tag")
    @action(detail=True, methods=["post"])
    def archive(self, request, pk=None):
        return Response(s.TagSerializer(tags.archive_tag(self.get_object())).data)


class AttributeDefinitionViewSet(
    TeamScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin
):
    """Custom attribute definitions. PATCH changes the label and/or the type (a type change clears values)."""

    queryset = CustomAttribute.objects.all()
    serializer_class = s.AttributeDefinitionSerializer
    required_permissions = {"read": VIEW, "write": EDIT}

    def create(self, request):
        body = s.AttributeDefinitionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            attribute = attributes.define_attribute(self.team, data["key"], data.get("label", ""), data["type"])
        except ValidationError as exc:
            _raise(exc)
        return Response(s.AttributeDefinitionSerializer(attribute).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.AttributeDefinitionUpdateSerializer, responses=s.AttributeDefinitionSerializer)
    def partial_update(self, request, pk=None):
        attribute = self.get_object()
        body = s.AttributeDefinitionUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if "label" in data:
            attributes.rename_attribute(attribute, data["label"])
        if "type" in data:
            try:
                attributes.change_attribute_type(attribute, data["type"])
            except ValidationError as exc:
                _raise(exc)
        return Response(s.AttributeDefinitionSerializer(attribute).data)

    @extend_schema(request=None, responses=s.AttributeDefinitionSerializer, summary="Archive an attribute")
    @action(detail=True, methods=["post"])
    def archive(self, request, pk=None):
        return Response(s.AttributeDefinitionSerializer(attributes.archive_attribute(self.get_object())).data)
