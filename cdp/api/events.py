"""POST /api/v1/events (the website / shop feed) and GET /api/v1/quota."""

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.decorators import api_view, permission_classes
from rest_framework.response import Response

from accounts.api_auth import IsTeamMember
from accounts.api_base import current_team, error_response

from .. import quota as quota_module
from .. import serializers as s
from ..services import events_api
from .common import EDIT, VIEW

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
        "binding with a binding link token",
        description="The website read the token from its landing URL (the cdp_binding query parameter, see "
        "/static/cdp/binding.js); the token names the contact and, when the link set one, the method.",
        request_only=True,
        value={
            "events": [
                {
                    "id": "evt-1005",
                    "type": "binding",
                    "data": {"token": "eyJ0IjoxLCJjaCI6MywiYyI6NDJ9:1tQ...:Xk3...", "member_id": "M0001"},
                }
            ]
        },
    ),
    OpenApiExample(
        "coupon.redeemed",
        description="The website redeemed a coupon code (and the order it was used on). A checkout.completed with "
        "data.coupon_code counts as a redemption too.",
        request_only=True,
        value={
            "events": [
                {
                    "id": "evt-1006",
                    "type": "coupon.redeemed",
                    "occurred_at": "2026-03-02T20:15:00+08:00",
                    "data": {"member_id": "M0001", "code": "SPRING-7KQ2M9", "order_id": "SO-20260302-001"},
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
                        "coupon_code": "SPRING-7KQ2M9",
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
