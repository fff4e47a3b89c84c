from django.urls import path

from . import views

urlpatterns = [
    path("teams/switch/", views.switch_team, name="switch-team"),
    path("settings/", views.team_settings, name="team-settings"),
    path("settings/api-keys/", views.api_key_create, name="api-key-create"),
    path("settings/api-keys/<int:pk>/revoke/", views.api_key_revoke, name="api-key-revoke"),
    path("settings/members/", views.member_add, name="member-add"),
    path(
        "settings/outbound-webhook/rotate-secret/",
        views.outbound_webhook_rotate_secret,
        name="outbound-webhook-rotate-secret",
    ),
    path("settings/members/<int:pk>/remove/", views.member_remove, name="member-remove"),
]
