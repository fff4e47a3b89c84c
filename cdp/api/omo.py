"""/api/v1/omo/members and /api/v1/omo/assignments: OMO 綁定's staff and branch list (each with its code and deep
links: a QR code is the link's text), adding a customer by hand, 手動移轉, and the record of every binding."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.api_base import TeamScopedViewSet

from .. import serializers as s
from ..models import OmoAssignment, OmoMember
from ..services import omo
from .common import EDIT, VIEW


def _actor(request):
    """The console user behind a session call; an API key acts for no user (the record's `by` stays empty)."""
    return request.user if request.user.is_authenticated else None


class OmoMemberViewSet(TeamScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Staff members and branches. POST creates one (its code is made here); POST …/customers adds a customer by
    hand (手動新增客戶); POST …/transfer binds contacts to this member (手動移轉). Every binding is recorded."""

    queryset = OmoMember.objects.all()
    serializer_class = s.OmoMemberSerializer
    required_permissions = {"read": VIEW, "write": EDIT}
    filter_backends = []

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if getattr(self.request, "auth", None) is not None:
            context["omo_channels"] = omo.link_channels(self.team)  # once per request, not per member
        return context

    def create(self, request):
        body = s.OmoMemberSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        member = omo.create_member(team=self.team, kind=body.validated_data["kind"], name=body.validated_data["name"])
        return Response(self.get_serializer(member).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.OmoAddCustomerSerializer, responses={201: s.OmoAddedSerializer}, summary="Add a customer by hand"
    )
    @action(detail=True, methods=["post"])
    def customers(self, request, pk=None):
        member = self.get_object()
        body = s.OmoAddCustomerSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        data = body.validated_data
        result = omo.add_customer(
            team=self.team,
            channel=data["channel"],
            external_id=data["external_id"],
            member=member,
            display_name=data["display_name"],
            by=_actor(request),
        )
        added = {"contact": result.contact.pk, "customer": result.contact.customer_id, "created": result.created}
        return Response(added, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.OmoTransferSerializer, responses=s.OmoTransferredSerializer, summary="Transfer contacts (手動移轉)"
    )
    @action(detail=True, methods=["post"])
    def transfer(self, request, pk=None):
        member = self.get_object()
        body = s.OmoTransferSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        moved = omo.transfer(
            team=self.team, contact_ids=body.validated_data["contacts"], member=member, by=_actor(request)
        )
        return Response({"moved": moved})


class OmoAssignmentViewSet(TeamScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """The record of OMO bindings, newest first: method qr / manual / keyword / transfer, the previous name a
    transfer replaced, and who did it. `?contact=` lists one contact's."""

    queryset = OmoAssignment.objects.all()
    serializer_class = s.OmoAssignmentSerializer
    required_permissions = {"read": VIEW, "write": EDIT}
    filterset_fields = ["contact"]
