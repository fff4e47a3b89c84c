"""The OmniLink code inside webhook processing (settings.MESSAGING_INBOUND_HOOKS).

Every customer text and every Messenger / Instagram referral passes through on_inbound. A message without the
code's prefix costs one substring test and no query; a code is looked up through the unique (team, code) index."""

from . import links, services


def on_inbound(*, event, contact, text="", ref=""):
    code = links.find_code(text=text, ref=ref)
    if not code:
        return False
    return services.complete(channel=event.channel, contact=contact, code=code, at=event.occurred_at)
