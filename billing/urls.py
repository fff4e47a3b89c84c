from django.urls import path

from . import views

app_name = "billing"
urlpatterns = [
    path("", views.index, name="index"),
    path("ledger.csv", views.ledger_csv, name="ledger-csv"),
    path("usage.csv", views.usage_csv, name="usage-csv"),
    path("bills/<int:pk>/", views.bill, name="bill"),
    path("bills/<int:pk>/csv", views.bill_csv, name="bill-csv"),
]
