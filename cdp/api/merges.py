"""/api/v1/merges: merge records and un-merging."""

from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.response import Response

from accounts.api_base import TeamScopedViewSet, error_response
from core.params import parse_id

from .. import serializers as s
from ..models import (
    MergeRecord,
)
from ..services import identity
from .common import VIEW


@extend_schema_view(list=extend_schema(parameters=[OpenApiParameter("customer", int)]))
class MergeViewSet(TeamScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Merge records (newest first); POST …/unmerge undoes one."""

    queryset = MergeRecord.objects.all()
    serializer_class = s.MergeRecordSerializer
    required_permissions = {"read": VIEW, "write": "customers.merge"}
    filter_backends = []

    def scope_queryset(self, queryset):
        customer = self.request.query_params.get("customer")
        if customer:
            customer_id = parse_id(customer)
            if customer_id is None:
                raise DRFValidationError({"customer": ["Must be an integer."]})
            queryset = queryset.filter(Q(survivor_id=customer_id) | Q(absorbed_id=customer_id))
        return queryset

    @extend_schema(request=None, responses=s.UnmergeResultSerializer, summary="Un-merge: restore both customers")
    @action(detail=True, methods=["post"])
    def unmerge(self, request, pk=None):
        record = self.get_object()
        actor = getattr(request.auth, "name", "") or str(request.user)
        try:
            survivor, restored = identity.unmerge(merge_record=record, actor=f"api:{actor}")
        except identity.UnmergeError as exc:
            return error_response(str(exc), code="conflict", http_status=status.HTTP_409_CONFLICT)
        return Response(
            {"survivor": s.CustomerSerializer(survivor).data, "restored": s.CustomerSerializer(restored).data}
        )
