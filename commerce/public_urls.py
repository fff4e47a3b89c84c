"""The customer's order pages (/order/<token>/…) and the payment webhooks, at fixed top-level paths."""

from django.urls import path

from . import public_views, webhooks

app_name = "commerce-public"

urlpatterns = [
    path("order/<str:token>/", public_views.order_page, name="order"),
    path("order/<str:token>/confirm", public_views.confirm, name="confirm"),
    path("order/<str:token>/pay", public_views.pay, name="pay"),
    path("order/<str:token>/logo", public_views.logo, name="logo"),
    path("order-sandbox-pay/<str:token>/", public_views.sandbox_pay, name="sandbox-pay"),
]

webhook_urlpatterns = [
    path("webhooks/payments/<str:provider>/<int:team_id>/", webhooks.payment_webhook, name="commerce-webhook"),
]
