from django.urls import path

from . import views

app_name = "commerce"

urlpatterns = [
    path("", views.order_list, name="index"),
    path("new/", views.order_new, name="order-new"),
    path("<int:pk>/", views.order_detail, name="order"),
    path("<int:pk>/<str:verb>/", views.order_action, name="order-action"),
    path("settings/", views.settings_page, name="settings"),
    path("settings/logo/<str:verb>/", views.logo_action, name="logo"),
    path("settings/logo.img", views.logo_image, name="logo-image"),
    path("settings/branches/", views.branch_add, name="branch-add"),
    path("products/", views.products, name="products"),
]
