"""An outbox worker that is SIGKILLed mid-batch by messaging/tests/test_crash.py.

It sends through the real LINE adapter (to the test's fake server, MESSAGING_LINE_API_BASE) and, on the
CRASH_AT-th provider call, hangs right AFTER LINE accepted the message and BEFORE the outcome is written;
the rest of its claimed batch has not been sent at all. Run: python -m messaging.tests.crash_outbox_worker
<marker file> (DATABASE_URL set).
"""

import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from messaging.adapters.line import LineTransport  # noqa: E402
from messaging.services import outbox  # noqa: E402

marker = sys.argv[1]
crash_at = int(os.environ.get("CRASH_AT", "15"))
original = LineTransport.send
calls = {"n": 0}


def send_then_maybe_hang(self, **kwargs):
    result = original(self, **kwargs)
    calls["n"] += 1
    if calls["n"] == crash_at:
        with open(marker, "w") as fh:
            fh.write("provider called, outcome not recorded")
        time.sleep(600)  # SIGKILLed here
    return result


LineTransport.send = send_then_maybe_hang
while True:
    if not outbox.dispatch(batch_size=int(os.environ.get("BATCH", "10")), max_batches=1):
        time.sleep(0.1)
