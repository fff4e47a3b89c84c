"""Posts a burst of journey-trigger events through the events API service, as the API view does, and prints one
line per batch: "<accepted> <rejected>". Run: python -m journeys.tests.burst_producer TEAM_ID CHANNEL_ID PREFIX
BATCHES SIZE (DATABASE_URL, REDIS_URL and Q_NAME set: the hints go to that Redis queue)."""

import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from accounts.models import Team  # noqa: E402
from cdp.services import events_api  # noqa: E402

team_id, channel_id, prefix, batches, size = sys.argv[1:6]
team = Team.objects.get(pk=int(team_id))
for batch in range(int(batches)):
    events = [
        {
            "id": f"burst-{batch}-{i}",
            "type": "system.burst",
            "data": {"channel": int(channel_id), "external_id": f"{prefix}{batch * int(size) + i:06d}"},
        }
        for i in range(int(size))
    ]
    result = events_api.process(team, {"events": events})
    print(result.accepted, len(result.rejected), flush=True)
