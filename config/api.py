"""The /api/v1/ router. Each app declares its API in `<app>/api_urls.py`:

    routes = [("customers", CustomerViewSet, "customer"), ...]   # registered on the shared router
    urlpatterns = [path("events", events_view), ...]             # plain views

The tenancy test walks this router, so every registered route is covered by it.
"""

from importlib import import_module
from importlib.util import find_spec

from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.routers import SimpleRouter

from accounts.api_auth import IsTeamMember
from accounts.permissions import ANY_MEMBER

PRODUCT_APPS = [
    "accounts",
    "cdp",
    "messaging",
    "audiences",
    "journeys",
    "analytics",
    "billing",
    "commerce",
    "omnilink",
    "coupons",
]

router = SimpleRouter()
router.trailing_slash = "/?"  # accept both /customers and /customers/
urlpatterns = []

for app in PRODUCT_APPS:
    if find_spec(f"{app}.api_urls") is None:
        continue
    module = import_module(f"{app}.api_urls")
    for prefix, viewset, basename in getattr(module, "routes", []):
        router.register(prefix, viewset, basename=basename)
    urlpatterns += getattr(module, "urlpatterns", [])


@extend_schema(
    summary="The API's collections and its documentation",
    responses=inline_serializer(
        "ApiRoot",
        {
            "collections": serializers.DictField(child=serializers.URLField()),
            "docs": serializers.URLField(),
            "schema": serializers.URLField(),
        },
    ),
    tags=["api"],
)
@api_view(["GET"])
@permission_classes([IsTeamMember])
def api_root(request):
    """The way in for an integrator who opens /api/v1/ (rather than a 404)."""
    return Response(
        {
            "collections": {
                prefix: request.build_absolute_uri(f"{request.path.rstrip('/')}/{prefix}/")
                for prefix, _viewset, _basename in router.registry
            },
            "docs": reverse("api-docs", request=request),
            "schema": reverse("api-schema", request=request),
        }
    )


api_root.cls.required_permissions = {"read": ANY_MEMBER}

urlpatterns += [path("", api_root, name="api-root")]
urlpatterns += router.urls
