from django.urls import path

from . import views

app_name = "cdp"
urlpatterns = [
    path("", views.index, name="index"),
    path("export.csv", views.export, name="export"),
    path("bulk/", views.bulk, name="bulk"),
    path("quota/", views.quota_bar, name="quota"),
    path("<int:pk>/", views.customer_detail, name="customer"),
    path("<int:pk>/timeline/", views.customer_timeline, name="customer-timeline"),
    path("<int:pk>/tags/", views.customer_tags, name="customer-tags"),
    path("<int:pk>/points/", views.customer_points, name="customer-points"),
    path("contacts/<int:pk>/unsubscribe/", views.contact_unsubscribe, name="contact-unsubscribe"),
    path("merges/<int:pk>/unmerge/", views.unmerge, name="unmerge"),
    path("tags/", views.tag_list, name="tags"),
    path("tags/new/", views.tag_save, name="tag-create"),
    path("tags/<int:pk>/", views.tag_save, name="tag-rename"),
    path("tags/<int:pk>/archive/", views.tag_archive, name="tag-archive"),
    path("attributes/", views.attribute_list, name="attributes"),
    path("attributes/new/", views.attribute_create, name="attribute-create"),
    path("attributes/<int:pk>/", views.attribute_update, name="attribute-update"),
    path("import/", views.import_start, name="import"),
    path("import/<int:pk>/mapping/", views.import_mapping, name="import-mapping"),
    path("import/<int:pk>/", views.import_job, name="import-job"),
    path("import/<int:pk>/errors.csv", views.import_errors, name="import-errors"),
    path("omo/", views.omo_index, name="omo"),
    path("contacts/<int:pk>/omo/", views.contact_omo_transfer, name="contact-omo-transfer"),
]
