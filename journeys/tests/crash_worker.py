"""A journey worker that hangs inside its second batch's transaction (after writing outbox rows), so a test
can SIGKILL it mid-batch. Run: python -m journeys.tests.crash_worker <marker file> (DATABASE_URL set)."""

import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from journeys import engine  # noqa: E402

marker = sys.argv[1]
original = engine._message
batches = {"n": 0}


def hanging_message(batch, items):
    out = original(batch, items)
    if batches["n"] >= 1:
        with open(marker, "w") as fh:
            fh.write("in-batch")
        time.sleep(600)  # killed here: outbox rows written, transaction not committed
    return out


engine.HANDLERS["message"] = hanging_message
while True:
    done = engine.run_batch(int(os.environ.get("BATCH", "20")))
    batches["n"] += 1
    if not done:
        time.sleep(0.1)
