from django.urls import path

from . import views

app_name = "coupons"
urlpatterns = [
    path("", views.index, name="index"),
    path("new/", views.edit, name="create"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/edit/", views.edit, name="edit"),
    path("<int:pk>/generate/", views.generate, name="generate"),
    path("<int:pk>/import/", views.import_codes, name="import"),
    path("<int:pk>/claims.csv", views.claims_csv, name="claims-csv"),
    path("<int:pk>/archive/", views.archive, name="archive"),
]
