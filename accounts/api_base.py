"""The pieces every API view is built from: a team-scoped base viewset, cursor pagination, one error format."""

import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback

from core.errors import ServiceError

from .tenancy import for_team, has_team

logger = logging.getLogger(__name__)


def current_team(request):
    return request.auth.team


class TeamScopedMixin:
    """get_queryset() always filters by the caller's team; create() always writes the caller's team.

    Subclasses set `queryset` and `required_permissions = {"read": ..., "write": ...}` and may override
    `scope_queryset` for extra filtering. They never override get_queryset.
    """

    required_permissions = None

    def __init_subclass__(cls, **kwargs):
        # The team filter lives in get_queryset; an override could drop it silently (PostHog's
        # TeamAndOrgViewSetMixin refuses the same way). Extra filtering goes in scope_queryset.
        super().__init_subclass__(**kwargs)
        if cls.get_queryset is not TeamScopedMixin.get_queryset:
            raise TypeError(
                f"{cls.__qualname__} overrides get_queryset() (itself or through a mixin), which would bypass "
                "the team filter; override scope_queryset(queryset) instead."
            )

    @property
    def team(self):
        return current_team(self.request)

    def get_queryset(self):
        return self.scope_queryset(for_team(self.queryset.all(), self.team))

    def scope_queryset(self, queryset):
        return queryset

    def perform_create(self, serializer):
        serializer.save(team=self.team)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if getattr(self.request, "auth", None) is not None:
            context["team"] = self.team
        return context


class TeamRelatedField(serializers.PrimaryKeyRelatedField):
    """An id of one of the caller's team's objects. Another team's id fails exactly as a nonexistent one (the same
    code and message), so ids cannot be enumerated (issue 22.5). Models without a team are left as they are."""

    def get_queryset(self):
        queryset = super().get_queryset()
        if has_team(queryset.model):
            queryset = for_team(queryset, self.context["team"])
        return queryset


class TeamModelSerializer(serializers.ModelSerializer):
    """A model serializer whose related fields take the caller's team's ids only."""

    serializer_related_field = TeamRelatedField


class TeamScopedViewSet(TeamScopedMixin, viewsets.GenericViewSet):
    pass


class TeamScopedModelViewSet(
    TeamScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    pass


def _flatten(detail):
    if isinstance(detail, dict):
        return {key: _flatten_list(value) for key, value in detail.items()}
    return _flatten_list(detail)


def _flatten_list(value):
    if isinstance(value, dict):
        return _flatten(value)
    if isinstance(value, list):
        out = []
        for item in value:
            out.append(_flatten(item) if isinstance(item, dict) else str(item))
        return out
    return [str(value)]


def error_body(code, message, fields=None):
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def api_exception_handler(exc, context):
    """Every 4xx answers {"error": {"code", "message", "fields": {field: [messages]}}}.

    A service's ServiceError (core.errors) is a 400 (409 when it says so) with its own stable `code`, rendered like
    a serializer's validation error otherwise: the same fields and message."""
    if isinstance(exc, ServiceError):
        fields = exc.api_fields()
        messages = [m for ms in fields.values() for m in ms]
        http_status = status.HTTP_409_CONFLICT if exc.code == "conflict" else exc.status
        set_rollback()
        return Response(error_body(exc.code, messages[0] if messages else "Invalid input.", fields), status=http_status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
    code = getattr(exc, "default_code", "error")
    if isinstance(exc, exceptions.ValidationError):
        if isinstance(detail, dict):
            fields = _flatten(detail)
            message = "Invalid input."
            non_field = fields.get("non_field_errors")
            if non_field:
                message = non_field[0] if isinstance(non_field[0], str) else message
        else:
            fields = {}
            messages = _flatten_list(detail)
            message = messages[0] if messages else "Invalid input."
            fields = {"non_field_errors": messages}
        response.data = error_body("invalid", message, fields)
    else:
        response.data = error_body(code, str(detail))
    return response


def error_response(message, *, fields=None, code="invalid", http_status=status.HTTP_400_BAD_REQUEST):
    return Response(error_body(code, message, fields), status=http_status)
