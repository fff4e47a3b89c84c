from django.urls import path

from .api import (
    ChatbotModuleViewSet,
    CommentRuleViewSet,
    KeywordRuleViewSet,
    OutboundMessageViewSet,
    WhatsAppTemplateViewSet,
    phone_binding_start_view,
    phone_binding_verify_view,
    quick_sms_view,
)

routes = [
    ("chatbot-modules", ChatbotModuleViewSet, "chatbot-module"),
    ("whatsapp-templates", WhatsAppTemplateViewSet, "whatsapp-template"),
    ("messages", OutboundMessageViewSet, "outbound-message"),
    ("keyword-rules", KeywordRuleViewSet, "keyword-rule"),
    ("comment-rules", CommentRuleViewSet, "comment-rule"),
]
urlpatterns = [
    path("sms/quick", quick_sms_view, name="api-sms-quick"),
    path("sms/phone-binding/start", phone_binding_start_view, name="api-sms-phone-binding-start"),
    path("sms/phone-binding/verify", phone_binding_verify_view, name="api-sms-phone-binding-verify"),
]
