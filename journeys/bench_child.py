"""The steps of `bench reliability` that enqueue work, run as their own process in the benchmark's environment
(its Redis queue name), so their hints reach the benchmark's clusters and no other's. Prints one result a line.

    python -m journeys.bench_child triggers TEAM_ID CHANNEL_ID PREFIX BATCHES SIZE   # "<accepted> <rejected>"
    python -m journeys.bench_child start_import JOB_ID MAPPING_JSON                   # as the console starts it
    python -m journeys.bench_child drain CONSUMER                                      # the backstop Schedule's task

The project's imports sit inside the functions: this module runs as __main__, and models can only be imported after
the django.setup() at its bottom.
"""

import json
import os
import sys

import django


def triggers(team_id, channel_id, prefix, batches, size):
    """Journey-trigger events through the events API service, as POST /api/v1/events applies them."""
    from accounts.models import Team
    from cdp.services import events_api

    team = Team.objects.get(pk=int(team_id))
    size = int(size)
    for batch in range(int(batches)):
        events = [
            {
                "id": f"{prefix}-{batch * size + i}",
                "type": f"system.{prefix}",
                "data": {"channel": int(channel_id), "external_id": f"{prefix}{batch * size + i:06d}"},
            }
            for i in range(size)
        ]
        result = events_api.process(team, {"events": events})
        print(result.accepted, len(result.rejected), flush=True)


def start_import(job_id, mapping):
    from cdp import imports
    from cdp.models import ImportJob

    job = imports.start(ImportJob.objects.get(pk=int(job_id)), json.loads(mapping))
    print(job.pk, job.status, flush=True)


def drain(consumer):
    from accounts.tasks import drain_handoffs

    print(drain_handoffs(consumer, linger=0), flush=True)


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    {"triggers": triggers, "start_import": start_import, "drain": drain}[sys.argv[1]](*sys.argv[2:])
