"""seed_demo hook: the inbox's recent conversations (demo_inbox) and what issue 18's contact sources need besides
cdp's contacts (demo_sources: OMO staff and branches, comment rules with replies, a finished LINE friend sync)."""

from . import demo_inbox, demo_sources


def seed(team, rng, *, now):
    demo_inbox.seed(team, rng, now=now)
    demo_sources.seed(team, rng, now=now)
