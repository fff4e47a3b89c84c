"""factory-boy factories for messaging models."""

import factory
from django.utils import timezone

from cdp.tests.factories import ChannelFactory, ContactFactory

from ..models import ChatbotModule, KeywordRule, ModuleType, OutboundMessage, WhatsAppTemplate


class ChatbotModuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChatbotModule

    team = factory.SubFactory("tests.factories.TeamFactory")
    name = factory.Sequence(lambda n: f"Module {n}")
    type = ModuleType.TEXT_BUTTONS
    content = factory.LazyFunction(
        lambda: {"text": "新品上市", "buttons": [{"label": "看看", "url": "https://shop.example.com/new"}]}
    )


class WhatsAppTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WhatsAppTemplate

    channel = factory.SubFactory(ChannelFactory, kind="whatsapp")
    team = factory.LazyAttribute(lambda o: o.channel.team)
    name = factory.Sequence(lambda n: f"promo_{n}")
    language = "zh_TW"
    body = "您好 {{1}}，優惠碼 {{2}}"
    parameter_count = 2
    status = "approved"


class OutboundMessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OutboundMessage

    contact = factory.SubFactory(ContactFactory)
    channel = factory.LazyAttribute(lambda o: o.contact.channel)
    team = factory.LazyAttribute(lambda o: o.contact.team)
    content = factory.LazyFunction(lambda: {"type": "text", "text": "hi"})
    origin = "broadcast"
    origin_id = "1"
    idempotency_key = factory.Sequence(lambda n: f"test:{n}")
    status = "sent"
    sent_at = factory.LazyFunction(timezone.now)


class KeywordRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = KeywordRule

    team = factory.SubFactory("tests.factories.TeamFactory")
    name = factory.Sequence(lambda n: f"Rule {n}")
    keywords = factory.LazyFunction(lambda: ["優惠"])
    match_type = "exact"
    reply_text = "這是本月優惠！"
    join_token = factory.Sequence(lambda n: f"tok{n}")
