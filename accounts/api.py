from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.response import Response

from . import services
from .api_auth import IsTeamMember
from .api_base import TeamScopedViewSet, current_team
from .models import ApiKey, Team
from .permissions import ANY_MEMBER


class TeamSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "slug", "name", "time_zone", "currency", "contact_quota", "created_at"]
        read_only_fields = fields


@extend_schema(responses=TeamSerializer, summary="The team the credential belongs to")
@api_view(["GET"])
@permission_classes([IsTeamMember])
def current_team_view(request):
    return Response(TeamSerializer(current_team(request)).data)


current_team_view.cls.required_permissions = {"read": ANY_MEMBER}


class ApiKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiKey
        fields = ["id", "name", "role", "prefix", "created_at", "last_used_at", "revoked_at"]
        read_only_fields = ["id", "prefix", "created_at", "last_used_at", "revoked_at"]


class NewApiKeySerializer(ApiKeySerializer):
    """The create response: the only one that carries the raw key."""

    key = serializers.CharField(source="raw_key", read_only=True, help_text="The raw key: returned once, here.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]


class ApiKeyViewSet(TeamScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Team API keys. Create returns the raw key once; DELETE revokes."""

    queryset = ApiKey.objects.all()
    serializer_class = ApiKeySerializer
    required_permissions = {"read": "team.manage", "write": "team.manage"}

    @extend_schema(request=ApiKeySerializer, responses={201: NewApiKeySerializer})
    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            new = services.create_api_key(
                team=self.team,
                name=serializer.validated_data["name"],
                role=serializer.validated_data.get("role", "admin"),
                granted_by=request.auth.role,
            )
        except services.RoleError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        new.api_key.raw_key = new.raw_key
        return Response(NewApiKeySerializer(new.api_key).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, pk=None):
        api_key = self.get_object()
        services.revoke_api_key(team=self.team, api_key_id=api_key.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)
