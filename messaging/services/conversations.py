"""The conversation with one contact (messages in and out), agent replies and the CSV export (seed 004)."""

import uuid
from itertools import chain

from core.csv_lines import BOM, CsvLines

from ..models import InboundMessage, Origin, OutboundMessage
from . import outbox


def timeline(contact, limit=200):
    inbound = InboundMessage.objects.filter(team_id=contact.team_id, contact=contact).order_by("-occurred_at")[:limit]
    outbound = OutboundMessage.objects.filter(team_id=contact.team_id, contact=contact).order_by("-created_at")[:limit]
    items = [
        {"direction": "in", "at": m.occurred_at, "text": m.text or f"[{m.kind}]", "kind": m.kind, "status": ""}
        for m in inbound
    ] + [
        {
            "direction": "out",
            "at": m.sent_at or m.created_at,
            "text": m.preview or (m.content or {}).get("text") or f"[{(m.content or {}).get('type', '')}]",
            "kind": m.origin,
            "status": m.status,
            "status_label": m.get_status_display(),
            "origin_label": m.get_origin_display(),
            "error": m.error_reason,
        }
        for m in outbound
    ]
    return sorted(items, key=lambda item: item["at"])[-limit:]


def agent_reply(*, contact, text, user=None):
    """Queue an agent's reply (origin agent); the outbox moves 'last team interaction' when it is sent."""
    return outbox.enqueue(
        team=contact.team,
        channel=contact.channel,
        contact=contact,
        content={"type": "text", "text": text},
        origin=Origin.AGENT,
        origin_id=str(getattr(user, "pk", "") or ""),
        idempotency_key=f"agent:{uuid.uuid4()}",
    )[0]


EXPORT_HEADER = [
    "time",
    "channel",
    "contact_id",
    "external_id",
    "contact_name",
    "direction",
    "origin",
    "status",
    "text",
]


def export_rows(team, start, end):
    """CSV lines (strings) of every message in and out in [start, end), in the team's time zone, by time."""
    lines = CsvLines()
    yield BOM + lines.row(EXPORT_HEADER)
    inbound = (
        InboundMessage.objects.filter(team=team, occurred_at__gte=start, occurred_at__lt=end)
        .select_related("channel", "contact")
        .order_by("occurred_at", "id")
        .iterator(chunk_size=2000)
    )
    outbound = (
        OutboundMessage.objects.filter(team=team, created_at__gte=start, created_at__lt=end)
        .select_related("channel", "contact")
        .order_by("created_at", "id")
        .iterator(chunk_size=2000)
    )
    rows = chain(
        ((m.occurred_at, m, "in") for m in inbound),
        ((m.sent_at or m.created_at, m, "out") for m in outbound),
    )
    for at, m, direction in sorted(rows, key=lambda r: r[0]):
        text = m.text if direction == "in" else (m.preview or (m.content or {}).get("text", ""))
        yield lines.row(
            [
                team.localtime(at).isoformat(timespec="seconds"),
                m.channel.name,
                m.contact_id,
                m.contact.external_id,
                m.contact.display_name,
                direction,
                "" if direction == "in" else m.origin,
                "" if direction == "in" else m.status,
                text,
            ]
        )
