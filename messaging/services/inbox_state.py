"""The inbox columns kept on `Conversation` (last message time, last customer message time) so the inbox list
reads one indexed table instead of counting over every message. Called where messages are recorded: the webhook
batch (inbound) and the outbox (outbound). Set-based: a few statements per batch, never one per message."""

from django.db.models import Q

from ..models import Conversation


def latest_by_contact(messages):
    """{(team_id, contact_id): newest occurred_at} of InboundMessage objects (for record_inbound)."""
    latest = {}
    for m in messages:
        key = (m.team_id, m.contact_id)
        if key not in latest or latest[key] < m.occurred_at:
            latest[key] = m.occurred_at
    return latest


def record_inbound(latest):
    """`latest`: {(team_id, contact_id): newest occurred_at} of customer messages just written. Creates the
    missing conversations and moves both times forward (never back: a late event keeps the newer time)."""
    if not latest:
        return
    by_contact = {contact_id: (team_id, at) for (team_id, contact_id), at in latest.items()}
    Conversation.objects.bulk_create(
        [
            Conversation(team_id=team_id, contact_id=contact_id, last_message_at=at, last_inbound_at=at)
            for contact_id, (team_id, at) in by_contact.items()
        ],
        batch_size=1000,
        ignore_conflicts=True,
    )
    changed = []
    for conversation in Conversation.objects.filter(contact_id__in=list(by_contact)).only(
        "pk", "contact_id", "last_message_at", "last_inbound_at"
    ):
        at = by_contact[conversation.contact_id][1]
        moved = False
        if conversation.last_inbound_at is None or conversation.last_inbound_at < at:
            conversation.last_inbound_at, moved = at, True
        if conversation.last_message_at is None or conversation.last_message_at < at:
            conversation.last_message_at, moved = at, True
        if moved:
            changed.append(conversation)
    Conversation.objects.bulk_update(changed, ["last_message_at", "last_inbound_at"], batch_size=1000)


def record_outbound(team_id, contact_ids, at):
    """Messages queued to these contacts at `at`: their existing conversations move to the top. One UPDATE;
    a broadcast creates no conversation (the inbox lists contacts who wrote)."""
    contact_ids = list(contact_ids)
    for i in range(0, len(contact_ids), 5000):
        Conversation.objects.filter(team_id=team_id, contact_id__in=contact_ids[i : i + 5000]).filter(
            Q(last_message_at__isnull=True) | Q(last_message_at__lt=at)
        ).update(last_message_at=at)
