from django.urls import path

from . import views

app_name = "journeys"
urlpatterns = [
    path("", views.index, name="index"),
    path("new/", views.create, name="create"),
    path("<int:pk>/", views.builder, name="builder"),
    path("<int:pk>/settings/", views.save_settings, name="settings"),
    path("<int:pk>/publish/", views.publish, name="publish"),
    path("<int:pk>/action/<str:name>/", views.action, name="action"),
    path("<int:pk>/nodes/add/", views.add_node, name="add_node"),
    path("<int:pk>/nodes/<str:node_id>/", views.node_drawer, name="node"),
    path("<int:pk>/nodes/<str:node_id>/delete/", views.delete_node, name="delete_node"),
    path("<int:pk>/nodes/<str:node_id>/stats/", views.node_stats, name="node_stats"),
    path("<int:pk>/nodes/<str:node_id>/conditions/", views.split_builder, name="split_builder"),
    path("<int:pk>/move/", views.move, name="move"),
    path("<int:pk>/statistics/", views.statistics, name="statistics"),
    path("<int:pk>/test/", views.test_journey, name="test"),
]
