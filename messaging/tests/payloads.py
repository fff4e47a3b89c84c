"""Realistic webhook bodies, written from the platforms' documentation (LINE Messaging API webhook events,
Messenger Platform webhooks, Instagram messaging webhooks, WhatsApp Cloud API webhooks), and signing helpers."""

import json

from messaging.services.ingest import line_signature, meta_signature

LINE_SECRET = "line-channel-secret"
META_SECRET = "meta-app-secret"


def line_body(*events, destination="Ubotdestination0001"):
    return json.dumps({"destination": destination, "events": list(events)}, ensure_ascii=False).encode()


def line_event(kind, user="U4af4980629aaaaaaaaaaaaaaaaaaaaaa", ts=1700000000000, event_id=None, **extra):
    event = {
        "type": kind,
        "mode": "active",
        "timestamp": ts,
        "source": {"type": "user", "userId": user},
        "webhookEventId": event_id or f"01H{kind.upper()}{ts}{user[-4:]}",
        "deliveryContext": {"isRedelivery": False},
    }
    if kind in ("message", "follow", "postback"):
        event["replyToken"] = "nHuyWiB7yP5Zw52FIkcQobQuGDXCTA"
    event.update(extra)
    return event


def line_text(text, **kw):
    return line_event(
        "message", message={"type": "text", "id": f"4{kw.get('ts', 1)}", "text": text, "quoteToken": "q"}, **kw
    )


def post_line(client, channel, body, secret=LINE_SECRET, header="X-Line-Signature"):
    return client.post(
        f"/webhooks/line/{channel.pk}/",
        data=body,
        content_type="application/json",
        headers={header: line_signature(secret, body)},
    )


def meta_body(obj, entry_id, *messaging):
    # Meta escapes non-ASCII as \\uXXXX in what it signs: keep ensure_ascii=True here on purpose.
    return json.dumps(
        {"object": obj, "entry": [{"id": entry_id, "time": 1700000000000, "messaging": list(messaging)}]}
    ).encode()


def post_meta(client, channel, body, secret=META_SECRET, path="meta"):
    return client.post(
        f"/webhooks/{path}/{channel.pk}/",
        data=body,
        content_type="application/json",
        headers={"X-Hub-Signature-256": meta_signature(secret, body)},
    )


def wa_body(*changes, waba="102290129340398"):
    return json.dumps(
        {"object": "whatsapp_business_account", "entry": [{"id": waba, "changes": list(changes)}]}
    ).encode()


def wa_change(phone_number_id, *, messages=(), statuses=(), contacts=()):
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "85291234567", "phone_number_id": phone_number_id},
    }
    if contacts:
        value["contacts"] = list(contacts)
    if messages:
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return {"value": value, "field": "messages"}
