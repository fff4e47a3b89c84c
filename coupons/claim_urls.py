"""The customer-facing claim page, at a short fixed path the coupon card links to (messaging reverses its name)."""

from django.urls import path

from . import views

urlpatterns = [path("c/<str:token>/", views.claim_page, name="coupon-claim")]
