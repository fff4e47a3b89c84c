from cdp.tests.factories import ChannelFactory, ContactFactory
from tests.tenancy import console_case

from .factories import ChatbotModuleFactory, KeywordRuleFactory


@console_case(
    "messaging:channel", "messaging:channel-test", "messaging:channel-toggle", "messaging:channel-sync-templates"
)
def channel_urls(team):
    # A sandbox WhatsApp channel: testing the connection and syncing templates stay on this machine.
    return {"pk": ChannelFactory(team=team, kind="whatsapp", is_sandbox=True).pk}


@console_case("messaging:conversation", "messaging:conversation-assign")
def conversation_urls(team):
    return {"contact_id": ContactFactory(channel=ChannelFactory(team=team)).pk}


@console_case("messaging:keyword", "messaging:keyword-delete", "messaging:keyword-wechat-qr")
def keyword_urls(team):
    return {"pk": KeywordRuleFactory(team=team).pk}


@console_case("messaging:module", "messaging:module-delete")
def module_urls(team):
    return {"pk": ChatbotModuleFactory(team=team).pk}


@console_case("messaging:module-new")
def module_new_urls(team):
    return {"module_type": "text_buttons"}


@console_case("messaging:quick-sms")
def quick_sms_urls(team):
    return {"contact_id": ContactFactory(channel=ChannelFactory(team=team)).pk}


@console_case("messaging:quick-sms-customer")
def quick_sms_customer_urls(team):
    return {"customer_id": ContactFactory(channel=ChannelFactory(team=team)).customer_id}


@console_case("messaging:channel-manual-numbers")
def manual_numbers_urls(team):
    return {"pk": ChannelFactory(team=team, kind="whatsapp", is_sandbox=True).pk}


@console_case("messaging:channel-friend-sync")
def friend_sync_urls(team):
    # Sandbox: starting a sync is refused with a message, never a call to LINE.
    return {"pk": ChannelFactory(team=team, kind="line", is_sandbox=True).pk}


@console_case("messaging:comment-rule", "messaging:comment-rule-delete")
def comment_rule_urls(team):
    from messaging.models import CommentRule

    return {"pk": CommentRule.objects.create(team=team, name="r", any_comment=True, reply_text="hi").pk}


@console_case("messaging:channel-chat-history")
def chat_history_urls(team):
    return {"pk": ChannelFactory(team=team, kind="whatsapp", is_sandbox=True).pk}
