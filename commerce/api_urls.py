from django.urls import path

from .api import CatalogProductViewSet, OrderViewSet, settings_view

routes = [
    ("orders", OrderViewSet, "order"),
    ("catalog/products", CatalogProductViewSet, "catalog-product"),
]
urlpatterns = [path("commerce/settings", settings_view, name="commerce-settings")]
