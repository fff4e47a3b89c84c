"""Which django-q2 cluster runs which task, and the per-minute backstop Schedules.

Two clusters share one broker (Redis or the ORM), each with its own queue:
- settings.Q_CLUSTER["name"] ("socialcdp"), the realtime cluster: webhook processing, the outbox, the journey
  engine and triggers, broadcasts, outbound webhooks — work a customer or a marketer is waiting for;
- settings.Q_HEAVY_CLUSTER ("socialcdp-heavy"): imports, analytics rollups and rebuilds, journey statistics —
  work that can take minutes and must never sit in front of the realtime queue.
A task's cluster is decided here, from settings.HEAVY_TASKS, for every enqueue and every Schedule alike. Run one
`manage.py qcluster` per cluster (`Q_CLUSTER_NAME=socialcdp-heavy manage.py qcluster` for the heavy one).
"""

import logging
import threading
import time

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

# A running drain renews its mark at most this often; the mark outlives a dead drain by at most twice this.
MARK_RENEW_SECONDS = 5.0


def cluster_for(func):
    """The cluster name for a task path (None: the default, realtime cluster)."""
    return settings.Q_HEAVY_CLUSTER if func in settings.HEAVY_TASKS else None


def enqueue(func, *args, task_name=None, route=None):
    """async_task on the right cluster. `route` names the task whose cluster to use, when `func` runs on behalf
    of another (a handoff drain runs where its consumer belongs)."""
    from django_q.tasks import async_task

    options = {"task_name": task_name or func}
    cluster = cluster_for(route or func)
    if cluster:
        options["cluster"] = cluster
    return async_task(func, *args, **options)


def drain_seconds():
    """How long one drain task may run: a minute, and never more than half the worker's timeout, so a drain
    under steady traffic ends (and the next hint or Schedule carries on) before the worker would kill it."""
    from django_q.conf import Conf

    return min(60.0, (Conf.TIMEOUT or 300) / 2)


def drain(step, *, linger=0.0, poll=0.1, max_seconds=None, name=None):
    """Call `step()` (which handles one batch of claimed rows and returns how many) until it finds nothing, then
    poll every `poll` s until nothing came for `linger` s (rows whose throttled hint was skipped), stopping after
    `max_seconds` so a task under steady traffic ends before the worker's timeout. Returns the rows handled.

    A named drain marks itself running in the shared cache (renewed every round), so the hints for it are not
    enqueued while it runs (`Hint(..., drain=name)`): under steady traffic one drain works and the queue does not
    fill with hints that would sit in front of other work. It clears the mark before its last look for rows, so a
    hint that saw the mark was sent after rows that this last look finds."""
    total = 0
    idle_since = None
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    try:
        while deadline is None or time.monotonic() < deadline:
            _mark_running(name, poll + linger)
            handled = step()
            total += handled
            if handled:
                idle_since = None
                continue
            now = time.monotonic()
            idle_since = idle_since or now
            if now - idle_since >= linger:
                _mark_stopped(name)
                handled = step()  # the last look, after the mark is gone
                total += handled
                if not handled:
                    break
                idle_since = None
                continue
            time.sleep(poll)
    finally:
        _mark_stopped(name)
    return total


def _running_key(name):
    return f"drain-running:{settings.Q_CLUSTER['name']}:{name}"


_renewed = {}  # name -> when this process last renewed its mark (a cache write per batch would cost more)


def _mark_running(name, idle):
    now = time.monotonic()
    if not name or now - _renewed.get(name, float("-inf")) < MARK_RENEW_SECONDS:
        return
    try:
        cache.set(_running_key(name), 1, timeout=int(idle + 2 * MARK_RENEW_SECONDS))
        _renewed[name] = now
    except Exception as error:  # noqa: BLE001 - without the cache, hints simply keep flowing
        logger.warning("drain %s: could not mark itself running: %s", name, error)


def _mark_stopped(name):
    if not name:
        return
    _renewed.pop(name, None)
    try:
        cache.delete(_running_key(name))
    except Exception as error:  # noqa: BLE001 - the mark expires by itself
        logger.warning("drain %s: could not clear its running mark: %s", name, error)


def is_running(name):
    return bool(name) and cache.get(_running_key(name)) is not None


def ensure_schedule(name, func, *, args=None, schedule_type="I", minutes=1, route=None):
    """Create or update one repeating Schedule (idempotent: keyed by name), on the task's cluster."""
    from django_q.models import Schedule

    defaults = {
        "func": func,
        "args": repr(tuple(args)) if args else None,
        "schedule_type": schedule_type,
        "minutes": minutes if schedule_type == Schedule.MINUTES else None,
        "repeats": -1,
        "cluster": cluster_for(route or func),
    }
    Schedule.objects.update_or_create(name=name, defaults=defaults)


class Hint:
    """A wake-up message for a drain task, enqueued at most once per `interval` seconds per process.

    A hint is only a hint: the rows are the work, the drain it wakes lingers for twice the interval after its
    backlog empties (so rows whose hint was skipped here are still picked up), and a per-minute Schedule finds
    whatever is left. Each process throttles on its own; several processes only mean more hints. The interval is
    a settings name, read at each call. A broker that is down (Redis restarting) loses the hint, logged once per
    interval, and never fails the request or transaction that already committed its rows.
    """

    def __init__(self, func, *args, interval_setting=None, route=None, drain=None):
        self.func, self.args, self.interval_setting, self.route = func, args, interval_setting, route
        self.drain = drain  # the name its drain marks itself running with (queues.drain)
        self._lock = threading.Lock()
        self._last = float("-inf")

    def __call__(self):
        from django_q.conf import Conf

        interval = getattr(settings, self.interval_setting) if self.interval_setting else 0.0
        now = time.monotonic()
        with self._lock:
            if not Conf.SYNC and now - self._last < interval:
                return False
            self._last = now
        if Conf.SYNC:  # tasks run inline (tests, Q_SYNC): their errors are the caller's to see
            enqueue(self.func, *self.args, task_name=f"hint:{self.func}", route=self.route)
            return True
        try:
            if is_running(self.drain):
                return False  # a drain is at work and looks again after clearing its mark, before it stops
            enqueue(self.func, *self.args, task_name=f"hint:{self.func}", route=self.route)
        except Exception as error:  # noqa: BLE001 - a lost hint is covered by the per-minute Schedule
            logger.warning("hint %s not sent (the per-minute schedule will find the work): %s", self.func, error)
            return False
        return True
