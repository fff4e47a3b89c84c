from cdp.tests.factories import ChannelFactory, ContactFactory
from tests.tenancy import tenancy_case

from .factories import ChatbotModuleFactory, KeywordRuleFactory, OutboundMessageFactory, WhatsAppTemplateFactory


@tenancy_case("chatbot-module")
def make_module(team):
    return ChatbotModuleFactory(team=team)


@tenancy_case("whatsapp-template")
def make_template(team):
    return WhatsAppTemplateFactory(channel=ChannelFactory(team=team, kind="whatsapp"))


@tenancy_case("outbound-message")
def make_message(team):
    return OutboundMessageFactory(contact=ContactFactory(channel=ChannelFactory(team=team)))


@tenancy_case("keyword-rule")
def make_rule(team):
    return KeywordRuleFactory(team=team)


@tenancy_case("comment-rule")
def make_comment_rule(team):
    from messaging.models import CommentRule

    return CommentRule.objects.create(team=team, name="r", any_comment=True, reply_text="hi")
