from django.urls import path

from . import views

app_name = "messaging"
urlpatterns = [
    path("", views.index, name="index"),
    path("channels/<int:pk>/", views.channel_detail, name="channel"),
    path("channels/<int:pk>/test/", views.channel_test, name="channel-test"),
    path("channels/<int:pk>/toggle/", views.channel_toggle, name="channel-toggle"),
    path("channels/<int:pk>/sync-templates/", views.channel_sync_templates, name="channel-sync-templates"),
    path("conversations/", views.conversation_list, name="conversations"),
    path("conversations/export.csv", views.conversation_export, name="conversation-export"),
    path("conversations/<int:contact_id>/", views.conversation, name="conversation"),
    path("conversations/<int:contact_id>/assign/", views.conversation_assign, name="conversation-assign"),
    path("sms/quick/<int:contact_id>/", views.quick_sms, name="quick-sms"),
    path("sms/quick/customer/<int:customer_id>/", views.quick_sms_customer, name="quick-sms-customer"),
    path("keywords/", views.keyword_list, name="keywords"),
    path("keywords/<int:pk>/", views.keyword_detail, name="keyword"),
    path("keywords/<int:pk>/delete/", views.keyword_delete, name="keyword-delete"),
    path("keywords/<int:pk>/wechat-qr/", views.keyword_wechat_qr, name="keyword-wechat-qr"),
    path("comment-rules/", views.comment_rule_list, name="comment-rules"),
    path("comment-rules/<int:pk>/", views.comment_rule_detail, name="comment-rule"),
    path("comment-rules/<int:pk>/delete/", views.comment_rule_delete, name="comment-rule-delete"),
    path("channels/<int:pk>/manual-numbers/", views.channel_manual_numbers, name="channel-manual-numbers"),
    path("channels/<int:pk>/friend-sync/", views.channel_friend_sync, name="channel-friend-sync"),
    path("channels/<int:pk>/chat-history/", views.channel_chat_history, name="channel-chat-history"),
    path("modules/", views.module_list, name="modules"),
    path("modules/new/<str:module_type>/", views.module_new, name="module-new"),
    path("modules/<int:pk>/", views.module_edit, name="module"),
    path("modules/<int:pk>/delete/", views.module_delete, name="module-delete"),
]
