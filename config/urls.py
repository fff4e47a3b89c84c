from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts import views as account_views
from analytics.views import home
from commerce.public_urls import webhook_urlpatterns as commerce_webhook_urls

urlpatterns = [
    path("healthz", account_views.healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("api/v1/", include("config.api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.auth_urls")),
    path("", home, name="home"),
    path("", include("accounts.urls")),
    path("customers/", include("cdp.urls")),
    path("messaging/", include("messaging.urls")),
    path("audiences/", include("audiences.urls")),
    path("journeys/", include("journeys.urls")),
    path("analytics/", include("analytics.urls")),
    path("billing/", include("billing.urls")),
    path("orders/", include("commerce.urls")),
    path("omnilink/", include("omnilink.urls")),
    path("coupons/", include("coupons.urls")),
    path("", include("coupons.claim_urls")),
]

# Webhooks and tracked-link redirects live at fixed top-level paths the platforms are given.
urlpatterns.append(path("", include("messaging.webhook_urls")))
urlpatterns.append(path("", include("commerce.public_urls")))  # the customer's order pages
urlpatterns += commerce_webhook_urls
urlpatterns.append(path("", include("omnilink.public_urls")))  # the OmniLink card's link: /ol/<token>

handler404 = "accounts.views.not_found"
handler500 = "accounts.views.server_error"

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
