"""Load for the backend-termination fault test: events API batches (journey triggers) and signed LINE webhook
requests, interleaved, through the services their views call. The test terminates this process's database
backends too, so each request is sent again until it is answered, as an integrator re-posts after a 500 and LINE
redelivers a webhook: the same body, the same event ids. Prints one line per answered request:
"events <accepted> <duplicates> <rejected> <attempts>" or "webhook <new events> <attempts>".

Run: python -m tests.fault_load TEAM_ID TRIGGER_CHANNEL_ID WEBHOOK_CHANNEL_ID BATCHES SIZE PER_WEBHOOK USERS PAUSE
(DATABASE_URL, REDIS_URL and Q_NAME set: the hints go to that Redis queue). Batch b posts the "system.burst"
events T<b>-<i> for the contacts U<b*SIZE+i:06d> of the trigger channel, then a webhook with PER_WEBHOOK text
messages (event ids W<b>-<i>) from the users L<n % USERS:04d>.
"""

import json
import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.db import Error, close_old_connections  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import Team  # noqa: E402
from cdp.models import ChannelKind  # noqa: E402
from cdp.services import events_api  # noqa: E402
from messaging.services import ingest  # noqa: E402

LINE_SECRET = "line-channel-secret"


def answered(request):
    """Call `request` until it returns; a database error is the 500 the client sees before it sends again."""
    attempts = 0
    while True:
        attempts += 1
        try:
            return request(), attempts
        except Error:
            close_old_connections()  # what Django does when a request ends: drop the broken connection
            time.sleep(0.05)


def trigger_batch(channel_id, batch, size):
    events = [
        {
            "id": f"T{batch}-{i}",
            "type": "system.burst",
            "data": {"channel": channel_id, "external_id": f"U{batch * size + i:06d}"},
        }
        for i in range(size)
    ]
    return {"events": events}


def webhook_body(batch, per, users):
    now_ms = int(timezone.now().timestamp() * 1000)
    events = []
    for i in range(per):
        n = batch * per + i
        events.append(
            {
                "type": "message",
                "mode": "active",
                "timestamp": now_ms + i,
                "source": {"type": "user", "userId": f"L{n % users:04d}"},
                "webhookEventId": f"W{batch}-{i}",
                "deliveryContext": {"isRedelivery": False},
                "message": {"type": "text", "id": f"5{n:08d}", "text": f"訊息 {n}", "quoteToken": "q"},
            }
        )
    return json.dumps({"destination": "Ufault", "events": events}, ensure_ascii=False).encode()


def main(team_id, trigger_channel_id, webhook_channel_id, batches, size, per_webhook, users, pause):
    team = Team.objects.get(pk=team_id)
    for batch in range(batches):
        body = trigger_batch(trigger_channel_id, batch, size)
        outcome, attempts = answered(lambda body=body: events_api.process(team, body))
        print("events", outcome.accepted, outcome.duplicates, len(outcome.rejected), attempts, flush=True)
        raw = webhook_body(batch, per_webhook, users)
        signature = ingest.line_signature(LINE_SECRET, raw)
        new, attempts = answered(
            lambda raw=raw, signature=signature: ingest.accept(
                webhook_channel_id, [ChannelKind.LINE], ingest.parse_line, raw, signature
            )
        )
        print("webhook", new, attempts, flush=True)
        time.sleep(pause)


if __name__ == "__main__":
    args = sys.argv[1:9]
    main(*(int(value) for value in args[:7]), float(args[7]))
