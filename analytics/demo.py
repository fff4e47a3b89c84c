"""seed_demo hook: build the analytics rollups of the demo team from the events cdp just wrote."""

import time

from . import rollups


def seed(team, rng, *, stdout=None):
    started = time.perf_counter()
    rows = rollups.rebuild(team)
    if stdout is not None:
        stdout.write(
            f"analytics: {len(rows.channel_days)} channel-days rebuilt in {time.perf_counter() - started:.1f}s"
        )
