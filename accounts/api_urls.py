from django.urls import path

from .api import ApiKeyViewSet, current_team_view

routes = [("api-keys", ApiKeyViewSet, "api-key")]
urlpatterns = [path("team", current_team_view, name="api-team")]
