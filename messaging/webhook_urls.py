"""Top-level paths given to the platforms: /webhooks/<platform>/<channel id>/ and tracked links /r/<token>."""

urlpatterns = []
