"""Shared steps of the commerce tests: the customer's side (open the link, confirm, pay) and the workers."""

import re
import time

from accounts import handoff
from commerce.services import payments
from messaging.services import outbox

INBOUND = "commerce.tasks.on_inbound_message"
JOURNEYS = "journeys.tasks.on_customer_events"


def dispatch():
    return outbox.dispatch()


def link_from(request):
    """The order page path inside the message the platform received (LINE flex or WhatsApp cta_url)."""
    body = request["json"]
    if "interactive" in body:
        url = body["interactive"]["action"]["parameters"]["url"]
    else:
        url = body["messages"][0]["contents"]["footer"]["contents"][0]["action"]["uri"]
    match = re.match(r"https://shop\.example\.com(/order/[^/]+/)$", url)
    assert match, url
    return match.group(1)


def drain_inbound():
    return handoff.drain(INBOUND)


def drain_journeys():
    return handoff.drain(JOURNEYS)


def process_payments():
    return payments.process_events()


def ms(seconds=None):
    return int((seconds or time.time()) * 1000)
