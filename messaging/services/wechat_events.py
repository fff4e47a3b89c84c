"""Processing stored WeChat events: the handlers messaging.services.processing.Batch dispatches `wechat_<kind>` to.

- subscribe: a new contact keyed by OpenID (UnionID kept when the payload has one), source 自然流量 (seed 000:
  「Wechat 收到新訊息」), or 關鍵字自動回覆 / 指派 when it came through a keyword rule's QR code (scene
  "kw-<join token>"); a contact that had unsubscribed is subscribed again. unsubscribe blocks the contact.
- SCAN (a follower scanning a parametric QR code): a keyword rule's scene triggers that rule (reply, assign, tags)
  as its keyword would; a subscribe through it does the same.
- text / image / voice / video / location / link messages: conversation rows, keyword rules on text.
- CLICK / VIEW menu events: customer interactions in the conversation (as LINE postbacks).
- TEMPLATESENDJOBFINISH: a template message's outcome (`Status` "success" → delivered, "failed:…" → failed).
"""

from cdp.models import Contact, ContactSource, SubscriptionStatus
from cdp.services.contacts import block, follow

from ..models import KeywordRule, OutboundMessage, OutboundStatus
from . import autoreply, wechat

KEYWORD_SCENE_PREFIX = "kw-"


def keyword_scene(rule):
    """The QR scene string of a keyword rule (WeChat's QR_LIMIT_STR_SCENE)."""
    return f"{KEYWORD_SCENE_PREFIX}{rule.join_token}"


class WeChatEvents:
    def _wechat_rule(self, event):
        scene = wechat.scene_of(event.payload or {})
        if not scene.startswith(KEYWORD_SCENE_PREFIX) or len(scene) <= len(KEYWORD_SCENE_PREFIX):
            return None
        token = scene[len(KEYWORD_SCENE_PREFIX) :]
        return next((r for r in self.rules_for(event.channel) if r.join_token == token), None) or (
            KeywordRule.objects.filter(team_id=event.team_id, join_token=token, is_active=True).first()
        )

    def _wechat_contact(self, event, rule=None):
        source, detail = (ContactSource.KEYWORD, f"rule:{rule.pk}") if rule else (ContactSource.ORGANIC, "")
        union = wechat.union_id(event.payload or {})
        contact = self.contact(event, source=source, source_detail=detail, business_scoped_id=union)
        if union and contact.business_scoped_id != union:
            Contact.objects.filter(pk=contact.pk).update(business_scoped_id=union)
            contact.business_scoped_id = union
        return contact

    def wechat_subscribe(self, event, payload):
        existed = (event.channel_id, event.user_key) in self.contacts
        rule = self._wechat_rule(event)
        contact = self._wechat_contact(event, rule)
        if existed or contact.status == SubscriptionStatus.BLOCKED:
            follow(contact, occurred_at=event.occurred_at)
        self.touch(contact, event.occurred_at)
        if rule is not None:
            autoreply.trigger(rule, contact=contact, event=event)

    def wechat_unsubscribe(self, event, payload):
        contact = self.contact(event, status=SubscriptionStatus.BLOCKED)
        block(contact, occurred_at=event.occurred_at)

    def wechat_scan(self, event, payload):
        rule = self._wechat_rule(event)
        contact = self._wechat_contact(event, rule)
        self.touch(contact, event.occurred_at)
        if rule is not None:
            autoreply.trigger(rule, contact=contact, event=event)

    def wechat_message(self, event, payload):
        contact = self._wechat_contact(event)
        kind = str(payload.get("MsgType") or "text").lower()
        msg_id = str(payload.get("MsgId") or payload.get("MsgID") or "")
        self.customer_message(event, contact, kind=kind, text=wechat.text_of(payload), external_id=msg_id)

    def wechat_click(self, event, payload):
        contact = self._wechat_contact(event)
        self.customer_message(event, contact, kind="postback", text=str(payload.get("EventKey") or ""))

    def wechat_view(self, event, payload):
        contact = self._wechat_contact(event)
        self.customer_message(event, contact, kind="view", text=str(payload.get("EventKey") or ""))

    def wechat_templatesendjobfinish(self, event, payload):
        msg_id, status = str(payload.get("MsgID") or payload.get("MsgId") or ""), str(payload.get("Status") or "")
        if not msg_id:
            return
        sent = OutboundMessage.objects.filter(channel_id=event.channel_id, provider_message_id=msg_id)
        if status == "success":
            sent.filter(delivered_at__isnull=True).exclude(status=OutboundStatus.FAILED).update(
                status=OutboundStatus.DELIVERED, delivered_at=event.occurred_at
            )
        elif status:
            sent.update(status=OutboundStatus.FAILED, error_code="template_send_failed", error_reason=status[:500])
