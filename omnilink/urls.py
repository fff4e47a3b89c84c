from django.urls import path

from . import views

app_name = "omnilink"

urlpatterns = [
    path("", views.campaign_list, name="campaigns"),
    path("new/", views.campaign_new, name="campaign-new"),
    path("<int:pk>/edit/", views.campaign_edit, name="campaign-edit"),
    path("<int:pk>/toggle/", views.campaign_toggle, name="campaign-toggle"),
    path("<int:pk>/copy/", views.campaign_copy, name="campaign-copy"),
    path("<int:pk>/statistics/", views.campaign_statistics, name="campaign-statistics"),
    path("<int:pk>/participants.csv", views.participants_csv, name="participants-csv"),
]
