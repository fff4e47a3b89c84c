from django.urls import path

from . import views

app_name = "cdp"
urlpatterns = [
    path("", views.index, name="index"),
    path("omnilink/", views.omnilink, name="omnilink"),
]
