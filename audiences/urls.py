from django.urls import path

from . import views

app_name = "audiences"
urlpatterns = [
    path("", views.index, name="index"),
    path("new/", views.pack_edit, name="pack-new"),
    path("<int:pk>/", views.pack_edit, name="pack-edit"),
    path("<int:pk>/copy/", views.pack_action, {"verb": "copy"}, name="pack-copy"),
    path("<int:pk>/archive/", views.pack_action, {"verb": "archive"}, name="pack-archive"),
    path("<int:pk>/reactivate/", views.pack_action, {"verb": "reactivate"}, name="pack-reactivate"),
    path("builder/", views.builder_action, name="builder"),
    path("count/", views.count, name="count"),
    path("preview/", views.preview, name="preview"),
    path("customers/<int:pk>/drawer/", views.customer_drawer, name="customer-drawer"),
    path("broadcasts/", views.broadcasts, name="broadcasts"),
    path("broadcasts/new/", views.broadcast_edit, name="broadcast-new"),
    path("broadcasts/csv/", views.broadcast_csv, name="broadcast-csv"),
    path("broadcasts/packs/", views.broadcast_pack_options, name="broadcast-pack-options"),
    path("broadcasts/preview/", views.broadcast_content_preview, name="broadcast-content-preview"),
    path("broadcasts/confirm/", views.broadcast_confirm, name="broadcast-confirm"),
    path("broadcasts/<int:pk>/", views.broadcast_detail, name="broadcast"),
    path("broadcasts/<int:pk>/edit/", views.broadcast_edit, name="broadcast-edit"),
    path("broadcasts/<int:pk>/cancel/", views.broadcast_action, {"verb": "cancel"}, name="broadcast-cancel"),
    path(
        "broadcasts/<int:pk>/unschedule/", views.broadcast_action, {"verb": "unschedule"}, name="broadcast-unschedule"
    ),
    path("broadcasts/<int:pk>/send/", views.broadcast_action, {"verb": "send"}, name="broadcast-send"),
]
