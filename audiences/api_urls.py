from .api import AudiencePackViewSet, BroadcastViewSet

routes = [
    ("audiences", AudiencePackViewSet, "audience-pack"),
    ("broadcasts", BroadcastViewSet, "broadcast"),
]
