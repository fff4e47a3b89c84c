"""Keyword auto-reply / auto-assign (seed 004): a matching customer message triggers the rule once.

Triggering counts the rule (trigger_count, shown on the rule's page), replies through the outbox (origin
auto_reply, idempotent by the inbound event so a redelivery never replies twice), assigns the contact to the
rule's staff member / branch and adds the rule's tags to the customer.
"""

from datetime import timedelta

from django.db.models import F
from django.utils import timezone

from cdp.models import Contact
from cdp.services.tags import add_tags

from ..models import KeywordRule, Origin
from . import outbox, sms
from .content import reply_module_error


def trigger(rule, *, contact, event):
    KeywordRule.objects.filter(pk=rule.pk).update(
        trigger_count=F("trigger_count") + 1, last_triggered_at=timezone.now()
    )
    if rule.starts_phone_binding:
        sms.start_chat(contact=contact, event=event)
    content = None
    if rule.reply_module_id and rule.reply_module and rule.reply_module.deleted_at is None:
        # A rule for every channel may answer with a module a platform cannot receive (WeChat): the reply text, if
        # any, answers there instead, else no reply (a send that can only fail is never queued).
        if not reply_module_error(event.team, event.channel, rule.reply_module):
            content = {"type": "module", "module_id": rule.reply_module_id}
    if content is None and rule.reply_text.strip():
        content = {"type": "text", "text": rule.reply_text}
    if content:
        outbox.enqueue(
            team=event.team,
            channel=event.channel,
            contact=contact,
            content=content,
            origin=Origin.AUTO_REPLY,
            origin_id=rule.pk,
            idempotency_key=f"kw:{rule.pk}:{event.dedup_key}"[:200],
            **line_reply_token(event),
        )
    updates = {}
    if rule.assign_staff:
        updates["omo_staff"] = rule.assign_staff
    if rule.assign_branch:
        updates["omo_branch"] = rule.assign_branch
    if updates:
        Contact.objects.filter(pk=contact.pk).update(**updates)
    if rule.tags:
        add_rule_tags(rule, contact, event.occurred_at)


# LINE: "reply tokens must be used within one minute after receiving the webhook"; keep a margin for the call.
REPLY_TOKEN_LIFETIME = timedelta(seconds=50)


def line_reply_token(event):
    """The event's replyToken and its deadline (from our receipt of the webhook), for LINE events only."""
    token = (event.payload or {}).get("replyToken") if event.dedup_key.startswith("line:") else ""
    if not token or not isinstance(token, str):
        return {}
    return {"reply_token": token, "reply_token_expires_at": event.received_at + REPLY_TOKEN_LIFETIME}


def add_rule_tags(rule, contact, occurred_at):
    add_tags(
        customer=contact.customer,
        names=list(rule.tags),
        source="keyword",
        channel=contact.channel,
        occurred_at=occurred_at,
    )
