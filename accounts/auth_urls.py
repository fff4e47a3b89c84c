"""Django's sign-in pages, with the throttled sign-in and password-reset views in place of Django's own."""

from django.contrib.auth import urls as django_auth_urls
from django.urls import path

from . import views

_REPLACED = {"login", "password_reset"}

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("password_reset/", views.PasswordResetView.as_view(), name="password_reset"),
    *(pattern for pattern in django_auth_urls.urlpatterns if pattern.name not in _REPLACED),
]
