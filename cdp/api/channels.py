"""/api/v1/channels."""

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.api_base import TeamScopedViewSet

from .. import serializers as s
from ..models import (
    Channel,
)
from ..services import channels
from .common import VIEW, _raise


@extend_schema_view(
    create=extend_schema(
        summary="Connect a channel",
        examples=[
            OpenApiExample(
                "LINE",
                request_only=True,
                value={
                    "kind": "line",
                    "name": "LINE 官方帳號",
                    "credentials": {"channel_secret": "…", "access_token": "…", "basic_id": "@123abcde"},
                },
            ),
            OpenApiExample(
                "WhatsApp",
                request_only=True,
                value={
                    "kind": "whatsapp",
                    "name": "WhatsApp 客服",
                    "credentials": {
                        "phone_number_id": "1234567890",
                        "app_secret": "…",
                        "verify_token": "…",
                        "access_token": "…",
                        "waba_id": "102290129340398",
                    },
                },
            ),
            OpenApiExample(
                "WeChat",
                request_only=True,
                value={
                    "kind": "wechat",
                    "name": "WeChat 服務號",
                    "credentials": {
                        "app_id": "wx2c2769f8efd9abc2",
                        "app_secret": "…",
                        "token": "…",
                        "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
                    },
                },
            ),
        ],
    ),
    partial_update=extend_schema(request=s.ChannelUpdateSerializer, summary="Rename / replace credential keys"),
    update=extend_schema(request=s.ChannelUpdateSerializer),
)
class ChannelViewSet(
    TeamScopedViewSet,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
):
    """Channels. Credentials are write-only; the response carries the webhook URL to paste into the platform."""

    queryset = Channel.objects.all()
    serializer_class = s.ChannelSerializer
    required_permissions = {"read": VIEW, "write": "channels.manage"}

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            channel = channels.create_channel(
                team=self.team, kind=data["kind"], name=data["name"], credentials=data.get("credentials", {})
            )
        except ValidationError as exc:
            _raise(exc)
        return Response(s.ChannelSerializer(channel).data, status=status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        channel = self.get_object()
        serializer = s.ChannelUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            channels.update_channel(
                channel,
                name=serializer.validated_data.get("name"),
                credentials=serializer.validated_data.get("credentials"),
            )
        except ValidationError as exc:
            _raise(exc)
        return Response(s.ChannelSerializer(channel).data)

    def partial_update(self, request, pk=None):
        return self.update(request, pk, partial=True)

    @extend_schema(request=None, responses=s.ChannelSerializer, summary="Disable the channel")
    @action(detail=True, methods=["post"])
    def disable(self, request, pk=None):
        return Response(s.ChannelSerializer(channels.disable_channel(self.get_object())).data)

    @extend_schema(request=None, responses=s.ChannelSerializer, summary="Enable the channel again")
    @action(detail=True, methods=["post"])
    def enable(self, request, pk=None):
        return Response(s.ChannelSerializer(channels.enable_channel(self.get_object())).data)
