"""System signals from lower apps to higher ones, without importing upward.

`emit(team_id, kind, **payload)` enqueues, after the current transaction commits, one task per consumer named in
settings.SIGNAL_CONSUMERS, called as consumer(team_id, kind, payload). Kinds in use:

- "attribute_archived" / "attribute_retyped"  payload {"attribute_id", "key"}                   (cdp)
- "module_deleted"                            payload {"module_id"}                             (messaging)
- "template_deleted" / "template_unusable"    payload {"template_id", "reason"}                 (messaging)
- "budget_exhausted"                          payload {"channel_id", "reason"}                  (messaging)

Consumers must be idempotent: a signal may arrive twice.
"""

import logging
from functools import cache

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


@cache
def _consumers():
    found = []
    for path in getattr(settings, "SIGNAL_CONSUMERS", []):
        try:
            import_string(path)
        except ImportError:
            logger.warning("Signal consumer %s is not importable; skipped", path)
            continue
        found.append(path)
    return tuple(found)


def emit(team_id, kind, **payload):
    def enqueue():
        from django_q.tasks import async_task

        for path in _consumers():
            async_task(path, team_id, kind, payload, task_name=f"signal:{kind}")

    transaction.on_commit(enqueue)
