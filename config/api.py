"""The /api/v1/ router. Each app declares its API in `<app>/api_urls.py`:

    routes = [("customers", CustomerViewSet, "customer"), ...]   # registered on the shared router
    urlpatterns = [path("events", events_view), ...]             # plain views

The tenancy test walks this router, so every registered route is covered by it.
"""

from importlib import import_module
from importlib.util import find_spec

from rest_framework.routers import SimpleRouter

PRODUCT_APPS = ["accounts", "cdp", "messaging", "audiences", "journeys", "analytics", "billing"]

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

urlpatterns += router.urls
