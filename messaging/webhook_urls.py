"""Top-level paths given to the platforms: /webhooks/<platform>/<channel id>/ and tracked links /r/<token>."""

from django.urls import path

from . import webhooks

urlpatterns = [
    path("webhooks/line/<int:channel_id>/", webhooks.line, name="webhook-line"),
    path("webhooks/meta/<int:channel_id>/", webhooks.meta, name="webhook-meta"),
    path("webhooks/whatsapp/<int:channel_id>/", webhooks.whatsapp, name="webhook-whatsapp"),
    path("webhooks/wechat/<int:channel_id>/", webhooks.wechat_account, name="webhook-wechat"),
    path("webhooks/sms/<int:channel_id>/", webhooks.sms, name="webhook-sms"),
    path("r/<str:token>", webhooks.tracked_click, name="tracked-click"),
    path("o/<str:token>", webhooks.open_pixel, name="open-pixel"),
    path("o/<str:token>/<path:rest>", webhooks.open_pixel, name="open-pixel-sized"),
]
