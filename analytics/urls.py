from django.urls import path

from . import views

app_name = "analytics"
urlpatterns = [
    path("", views.index, name="index"),
    path("cards/<slug:name>/", views.card, name="card"),
    path("export/<slug:name>.csv", views.export, name="export"),
]
