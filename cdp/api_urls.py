from django.urls import path

from .api import (
    AttributeDefinitionViewSet,
    ChannelViewSet,
    ContactViewSet,
    CustomerViewSet,
    MergeViewSet,
    OmoAssignmentViewSet,
    OmoMemberViewSet,
    TagViewSet,
    events_view,
    quota_view,
)

routes = [
    ("channels", ChannelViewSet, "channel"),
    ("contacts", ContactViewSet, "contact"),
    ("customers", CustomerViewSet, "customer"),
    ("tags", TagViewSet, "tag"),
    ("attributes", AttributeDefinitionViewSet, "attribute-definition"),
    ("merges", MergeViewSet, "merge"),
    ("omo/members", OmoMemberViewSet, "omo-member"),
    ("omo/assignments", OmoAssignmentViewSet, "omo-assignment"),
]
urlpatterns = [
    path("events", events_view, name="api-events"),
    path("quota", quota_view, name="api-quota"),
]
