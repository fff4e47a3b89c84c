"""Comment rules (留言自動回覆): FB 貼文回覆, IG 貼文回覆, IG 直播留言回覆 (seed 000).

1. A comment arrives by the Meta webhook (`feed` for a Page, `comments` / `live_comments` for Instagram) and is
   stored like every other event (ingest: signature, durable row, ack). Processing finds the team's first
   matching active rule (keywords, or any comment), counts it, and records the one CommentReply the comment is
   owed (unique per comment).
2. `send_pending` sends it: the Send API's private reply, `{"recipient": {"comment_id": ...}}` on
   POST /{page-id}/messages (Instagram: /{ig-user-id}/messages). The row is marked "sending" and committed
   before the call, so a worker crash never sends twice (Meta accepts one private reply per comment anyway);
   the answer's `recipient_id` (the commenter's PSID / IGSID) is kept.
3. When that person's first message arrives, the contact is created with the reply's source (`source_for`).
"""

import logging

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.queues import enqueue
from cdp.models import Contact, ContactSource

from .. import adapters
from ..models import CommentField, CommentReply, CommentReplyStatus, CommentRule

logger = logging.getLogger(__name__)

SOURCE_FOR_FIELD = {
    CommentField.FEED: ContactSource.FB_POST_REPLY,
    CommentField.COMMENTS: ContactSource.IG_POST_REPLY,
    CommentField.LIVE_COMMENTS: ContactSource.IG_LIVE_COMMENT_REPLY,
}


def rules_for_team(team):
    return CommentRule.objects.for_team(team).select_related("channel")


def save_rule(form, team):
    rule = form.save(commit=False)
    rule.team = team
    rule.save()
    return rule


def handle_comment(event, rules):
    """A stored comment event: the first matching rule owes the comment one private reply. Returns the reply row
    (None when no rule matches or it was recorded already)."""
    payload = event.payload or {}
    field = payload.get("field")
    text = payload.get("message") if field == CommentField.FEED else payload.get("text")
    rule = next((r for r in rules if r.matches(text or "")), None)
    if rule is None:
        return None
    comment_id = str(payload.get("comment_id") or payload.get("id"))
    reply, created = CommentReply.objects.get_or_create(
        team_id=event.team_id,
        channel_id=event.channel_id,
        comment_id=comment_id,
        defaults={
            "rule": rule,
            "field": field,
            "source": SOURCE_FOR_FIELD[field],
            "commenter_id": event.user_key,
            "text": rule.reply_text,
        },
    )
    if not created:
        return None
    CommentRule.objects.filter(pk=rule.pk).update(
        trigger_count=F("trigger_count") + 1, last_triggered_at=timezone.now()
    )
    transaction.on_commit(_hint)
    return reply


def _hint():
    enqueue("messaging.tasks.send_comment_replies", task_name="comment-replies")


def send_pending(limit=100):
    """Send the private replies owed; returns how many were sent."""
    sent = 0
    while True:
        with transaction.atomic():
            reply = (
                CommentReply.objects.select_for_update(skip_locked=True)
                .filter(status=CommentReplyStatus.PENDING)
                .select_related("channel")
                .order_by("created_at", "id")
                .first()
            )
            if reply is None:
                return sent
            CommentReply.objects.filter(pk=reply.pk).update(status=CommentReplyStatus.SENDING)
        sent += send_one(reply)
        if sent >= limit:
            return sent


def send_one(reply):
    adapter = adapters.get_adapter(reply.channel)
    payload = {"recipient": {"comment_id": reply.comment_id}, "message": {"text": reply.text}, "messaging_type": None}
    result = adapter.send(recipient=reply.commenter_id, payload=payload, retry_key=f"comment:{reply.pk}")
    if result.ok:
        CommentReply.objects.filter(pk=reply.pk).update(
            status=CommentReplyStatus.SENT,
            sent_at=timezone.now(),
            recipient_id=str(result.extra.get("recipient_id") or reply.commenter_id)[:128],
            error="",
        )
        return 1
    status = CommentReplyStatus.PENDING if result.retryable else CommentReplyStatus.FAILED
    CommentReply.objects.filter(pk=reply.pk).update(status=status, error=f"{result.error_code}: {result.error_reason}")
    logger.info("private reply to comment %s: %s %s", reply.comment_id, result.error_code, result.error_reason)
    return 0


def joins(rule):
    """Contacts that joined after this rule's private reply (their source names the comment)."""
    ids = [f"comment:{c}" for c in CommentReply.objects.filter(rule=rule).values_list("comment_id", flat=True)]
    return Contact.objects.filter(team_id=rule.team_id, source_detail__in=ids).count() if ids else 0


def source_for(channel_id, user_id):
    """The source of a new contact who was sent a private reply on this channel (its PSID / IGSID, or for
    Instagram the commenter's IGSID itself), or None."""
    reply = (
        CommentReply.objects.filter(channel_id=channel_id, status=CommentReplyStatus.SENT)
        .filter(Q(recipient_id=user_id) | Q(commenter_id=user_id))
        .order_by("-sent_at")
        .first()
    )
    return (reply.source, f"comment:{reply.comment_id}") if reply else None
