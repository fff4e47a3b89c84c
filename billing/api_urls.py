from django.urls import path

from .api import MonthlyBillViewSet, TransactionViewSet, balance_view, usage_view

routes = [
    ("billing/transactions", TransactionViewSet, "billing-transaction"),
    ("billing/bills", MonthlyBillViewSet, "billing-bill"),
]
urlpatterns = [
    path("billing/balance", balance_view, name="api-billing-balance"),
    path("billing/usage", usage_view, name="api-billing-usage"),
]
