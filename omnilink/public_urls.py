from django.urls import path

from . import views

app_name = "omnilink-public"

urlpatterns = [path("ol/<str:token>", views.link, name="link")]
