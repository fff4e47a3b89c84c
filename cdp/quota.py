"""The contact quota (名單配額): used, percentage, remaining, and which contacts are over it.

Rule: contacts are ranked by created_at, then id. The first `quota` are within it; every contact after
them (the newest) is over quota and is excluded from audiences and broadcasts. Blocked and unsubscribed
contacts still count towards the quota (they are still contacts of the team), as in the reference product.
"""

import threading
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts import queues

from .models import Contact

REFRESH_DEBOUNCE_SECONDS = 5


@dataclass(frozen=True)
class QuotaUsage:
    quota: int
    used: int

    @property
    def remaining(self):
        return max(self.quota - self.used, 0)

    @property
    def percent(self):
        return round(100 * self.used / self.quota, 1) if self.quota else 100.0

    @property
    def over(self):
        return max(self.used - self.quota, 0)


def usage(team):
    return QuotaUsage(quota=team.contact_quota, used=Contact.objects.for_team(team).count())


def refresh_over_quota(team):
    """Set is_over_quota on exactly the contacts beyond the quota. Two set-based UPDATEs; idempotent."""
    contacts = Contact.objects.for_team(team)
    cutoff = contacts.order_by("created_at", "id").values_list("created_at", "id")[team.contact_quota :][:1]
    cutoff = list(cutoff)
    if not cutoff:
        return contacts.filter(is_over_quota=True).update(is_over_quota=False)
    created_at, pk = cutoff[0]
    over = Q(created_at__gt=created_at) | Q(created_at=created_at, id__gte=pk)
    changed = contacts.filter(over, is_over_quota=False).update(is_over_quota=True)
    changed += contacts.filter(~over, is_over_quota=True).update(is_over_quota=False)
    return changed


def schedule_refresh(team_id):
    """After commit, refresh the team's over-quota flags: at once for the first change of a debounce window,
    and once more at the window's end for the changes made inside it (the first refresh may have run before they
    committed). Any change is so reflected within the window plus the scheduler's poll (about 30 s).

    Within one transaction the debounce cache is checked once per team (a batch creating 100 contacts checks it
    once, not 100 times): see _Pending.
    """
    _Pending.current().add(team_id)


class _Pending:
    """The teams whose refresh waits for the current transaction's commit, on this thread.

    Only public API: every call registers an on-commit callback (a cheap closure), and the first one that runs
    refreshes all the teams gathered so far; the others find the set flushed and return. A callback registered in
    a savepoint or transaction that rolls back is discarded by Django, and its teams stay in the set until the
    next commit's callback refreshes them too: one refresh too many, never one too few.
    """

    _local = threading.local()

    def __init__(self):
        self.teams = set()
        self.flushed = False

    @classmethod
    def current(cls):
        pending = getattr(cls._local, "pending", None)
        if pending is None or pending.flushed:
            pending = cls._local.pending = cls()
        return pending

    def add(self, team_id):
        self.teams.add(team_id)
        transaction.on_commit(self.flush)

    def flush(self):
        if self.flushed:
            return
        self.flushed = True
        for team_id in sorted(self.teams):
            _enqueue_refresh(team_id)


def _enqueue_refresh(team_id):
    from django_q.models import Schedule
    from django_q.tasks import schedule

    if cache.add(f"quota-refresh:{team_id}", 1, timeout=REFRESH_DEBOUNCE_SECONDS):
        queues.enqueue("cdp.tasks.refresh_quota", team_id, task_name=f"quota:{team_id}")
    elif cache.add(f"quota-refresh-trailing:{team_id}", 1, timeout=REFRESH_DEBOUNCE_SECONDS):
        # Runs after every change that finds this key set: they all committed within the window before it.
        schedule(
            "cdp.tasks.refresh_quota",
            team_id,
            name=f"quota:{team_id}:{uuid.uuid4().hex[:12]}",  # django-q2 refuses a name twice
            schedule_type=Schedule.ONCE,
            repeats=-1,  # a ONCE schedule with negative repeats deletes itself after running
            next_run=timezone.now() + timedelta(seconds=REFRESH_DEBOUNCE_SECONDS),
            cluster=queues.cluster_for("cdp.tasks.refresh_quota"),
        )
