from .api import ChatbotModuleViewSet, KeywordRuleViewSet, OutboundMessageViewSet, WhatsAppTemplateViewSet

routes = [
    ("chatbot-modules", ChatbotModuleViewSet, "chatbot-module"),
    ("whatsapp-templates", WhatsAppTemplateViewSet, "whatsapp-template"),
    ("messages", OutboundMessageViewSet, "outbound-message"),
    ("keyword-rules", KeywordRuleViewSet, "keyword-rule"),
]
