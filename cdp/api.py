"""The cdp REST API: events feed, channels, contacts, customers (tags, attributes, points, bindings), tags,
attribute definitions, merges (un-merge) and the contact quota. Every write calls cdp.services."""

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.response import Response

from accounts.api_auth import IsTeamMember
from accounts.api_base import TeamScopedViewSet, current_team, error_response
from core.params import parse_id

from . import quota as quota_module
from . import serializers as s
from .models import (
    AttributeValue,
    Channel,
    Contact,
    CustomAttribute,
    Customer,
    CustomerTag,
    MergeRecord,
    Tag,
)
from .phones import normalize_phone
from .services import attributes, channels, customers, events_api, identity, tags

VIEW = "customers.view"
EDIT = "customers.edit"


def _raise(exc):
    """A django ValidationError from a service → the API's 400 with fields."""
    if hasattr(exc, "error_dict"):
        raise DRFValidationError(exc.message_dict)
    raise DRFValidationError({"non_field_errors": exc.messages})


def _bool(value):
    if value is None or value == "":
        return None
    return str(value).lower() in ("1", "true", "yes")


# --- events --------------------------------------------------------------------------------------------------

EVENT_EXAMPLES = [
    OpenApiExample(
        "member.identify",
        request_only=True,
        value={
            "events": [
                {
                    "id": "evt-1001",
                    "type": "member.identify",
                    "occurred_at": "2026-03-01T10:00:00+08:00",
                    "data": {
                        "member_id": "M0001",
                        "phone": "0912345678",
                        "email": "amy@example.com",
                        "name": "Amy",
                        "attributes": {"level": "gold"},
                    },
                }
            ]
        },
    ),
    OpenApiExample(
        "binding",
        request_only=True,
        value={
            "events": [
                {
                    "id": "evt-1002",
                    "type": "binding",
                    "occurred_at": "2026-03-01T10:01:00+08:00",
                    "data": {
                        "channel": 12,
                        "external_id": "U4af4980629...",
                        "member_id": "M0001",
                        "method": "binding_plugin",
                    },
                }
            ]
        },
    ),
    OpenApiExample(
        "checkout.completed",
        request_only=True,
        value={
            "events": [
                {
                    "id": "evt-1003",
                    "type": "checkout.completed",
                    "occurred_at": "2026-03-02T20:15:00+08:00",
                    "data": {
                        "member_id": "M0001",
                        "order_id": "SO-20260302-001",
                        "amount": "1280.00",
                        "currency": "TWD",
                        "items": [{"name": "保濕乳液", "quantity": 2, "price": "640.00"}],
                    },
                }
            ]
        },
    ),
    OpenApiExample(
        "tag.add / tag.remove",
        request_only=True,
        value={
            "events": [
                {"id": "evt-1004", "type": "tag.add", "data": {"member_id": "M0001", "tags": ["VIP", "回購"]}},
                {
                    "id": "evt-1005",
                    "type": "tag.remove",
                    "data": {"channel": 12, "external_id": "U4af...", "tags": ["新客"]},
                },
            ]
        },
    ),
    OpenApiExample(
        "attribute.set",
        request_only=True,
        value={
            "events": [
                {
                    "id": "evt-1006",
                    "type": "attribute.set",
                    "data": {"customer": 345, "attributes": {"birthday": "1990-05-01"}},
                }
            ]
        },
    ),
    OpenApiExample(
        "unsubscribe",
        request_only=True,
        value={
            "events": [
                {
                    "id": "evt-1007",
                    "type": "unsubscribe",
                    "data": {"channel": 12, "external_id": "U4af...", "scope": "broadcast"},
                }
            ]
        },
    ),
    OpenApiExample(
        "system.<name>",
        request_only=True,
        value={
            "events": [
                {
                    "id": "evt-1008",
                    "type": "system.website_remarketing",
                    "data": {"member_id": "M0001", "url": "https://shop.example.com/p/42"},
                }
            ]
        },
    ),
    OpenApiExample(
        "Response with a rejected event",
        response_only=True,
        value={
            "accepted": 7,
            "duplicates": 1,
            "rejected": [
                {"index": 3, "id": "evt-1004", "errors": {"data.attributes.level": ["level: 必須是數字：high"]}}
            ],
        },
    ),
]


@extend_schema(
    summary="Send website / shop / pixel events (at most 1,000 per request)",
    description=events_api.__doc__,
    request=s.EventsInSerializer,
    responses={200: s.EventsOutSerializer},
    examples=EVENT_EXAMPLES,
    tags=["events"],
)
@api_view(["POST"])
@permission_classes([IsTeamMember])
def events_view(request):
    try:
        outcome = events_api.process(current_team(request), request.data)
    except events_api.BadBody as exc:
        return error_response(str(exc), fields={exc.field: [str(exc)]})
    return Response(outcome.as_dict())


events_view.cls.required_permissions = {"read": EDIT, "write": EDIT}


@extend_schema(summary="Contact quota: used, percent, remaining", responses=s.QuotaSerializer, tags=["customers"])
@api_view(["GET"])
@permission_classes([IsTeamMember])
def quota_view(request):
    usage = quota_module.usage(current_team(request))
    return Response(
        {
            "quota": usage.quota,
            "used": usage.used,
            "percent": usage.percent,
            "remaining": usage.remaining,
            "over": usage.over,
            "rule": "Contacts are ranked by created_at, then id; those beyond the quota (the newest) are over it "
            "and excluded from audiences and broadcasts. Blocked and unsubscribed contacts count.",
        }
    )


quota_view.cls.required_permissions = {"read": VIEW}


# --- channels ------------------------------------------------------------------------------------------------


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


# --- contacts ------------------------------------------------------------------------------------------------


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
    required_permissions = {"read": VIEW}
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


# --- customers -----------------------------------------------------------------------------------------------


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


# --- tags and attribute definitions --------------------------------------------------------------------------


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


# --- merges --------------------------------------------------------------------------------------------------


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
