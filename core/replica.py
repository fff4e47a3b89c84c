"""Reads from a PostgreSQL streaming replica, explicitly and only where a view asks for it.

``DATABASE_REPLICA_URL`` (optional) adds the ``replica`` connection. Nothing reads from it unless a view is wrapped
in :func:`reads_from_replica` (or code runs inside :func:`replica_reads`): the heavy read-only paths (analytics API
and pages, audience counts and previews, CSV exports, journey and broadcast statistics). Inside that scope the
router (:class:`ReplicaRouter`) sends ORM reads to the replica, except

- while the primary is inside a transaction (a read in a transaction that writes sees that transaction's rows);
- once anything in the scope has written (read-your-own-write within the request);
- for a browser that wrote within the last ``DATABASE_REPLICA_MAX_LAG_SECONDS`` (:class:`ReplicaMiddleware` sets
  a short cookie after a request that wrote, so the page after a form's redirect reads the primary);
- when the replica lags more than ``DATABASE_REPLICA_MAX_LAG_SECONDS`` (default 30 s) or cannot be reached.

Writes always go to the primary. Without the setting every read and write uses the primary, as before.
A replica-served response carries ``X-Data-As-Of`` (ISO 8601) and pages show "data as of …" (templates read
``replica_as_of`` from the context, see :func:`context`).

Raw SQL reads call :func:`read_alias` for the connection to use. The lag measurement is cached per process for
``LAG_CACHE_SECONDS`` (a single-process cache by design: each web process measures on its own).
"""

import contextvars
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.template.response import TemplateResponse
from django.utils import timezone

REPLICA = "replica"
PRIMARY_COOKIE = "cdp_primary_until"
LAG_CACHE_SECONDS = 1.0
# An unreachable replica is not asked again for this long (each attempt may wait for the connect timeout).
UNREACHABLE_RETRY_SECONDS = 15.0
# Read from the primary even inside a replica scope: sessions, the database cache (throttles, heartbeats) and the
# task queue are state the request may just have written or must see current.
PRIMARY_ONLY_APPS = {"sessions", "django_cache", "django_q"}


@dataclass
class _Scope:
    """One replica-reading scope: where it reads and whether it has written (then it reads the primary)."""

    alias: str = DEFAULT_DB_ALIAS
    lag_seconds: float | None = None
    wrote: bool = False

    @property
    def as_of(self):
        if self.alias != REPLICA or self.lag_seconds is None:
            return None
        return timezone.now() - timedelta(seconds=self.lag_seconds)


_scope = contextvars.ContextVar("replica_scope", default=None)
_wrote_in_request = contextvars.ContextVar("replica_wrote_in_request", default=None)
_lag_cache = {"at": float("-inf"), "lag": None}


def configured():
    return REPLICA in settings.DATABASES


def max_lag_seconds():
    return float(getattr(settings, "DATABASE_REPLICA_MAX_LAG_SECONDS", 30))


def lag_seconds(*, fresh=False):
    """The replica's lag behind the primary in seconds, or None when it cannot be measured (down, not a standby).

    0 when the replica has replayed everything the primary had written when asked; otherwise the age of the last
    transaction it replayed (the newest data it is sure to hold)."""
    if not configured():
        return None
    now = time.monotonic()
    ttl = LAG_CACHE_SECONDS if _lag_cache["lag"] is not None else UNREACHABLE_RETRY_SECONDS
    if not fresh and now - _lag_cache["at"] < ttl:
        return _lag_cache["lag"]
    lag = None
    try:
        with connections[REPLICA].cursor() as standby:  # connect first: an unreachable replica fails here
            with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
                cursor.execute("SELECT pg_current_wal_lsn()")
                primary_lsn = cursor.fetchone()[0]
            standby.execute(
                "SELECT pg_is_in_recovery(), COALESCE(pg_last_wal_replay_lsn() >= %s::pg_lsn, false), "
                "EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())",
                [primary_lsn],
            )
            in_recovery, caught_up, age = standby.fetchone()
        if in_recovery:
            lag = 0.0 if caught_up else (max(float(age), 0.0) if age is not None else None)
    except Exception:  # noqa: BLE001 - an unreachable replica is bypassed, never an error page
        lag = None
    _lag_cache.update(at=now, lag=lag)
    return lag


def _primary_pinned(request):
    if request is None:
        return False
    try:
        return float(request.COOKIES.get(PRIMARY_COOKIE, "0")) > time.time()
    except ValueError:
        return False


@contextmanager
def replica_reads(request=None):
    """Within this scope ORM reads go to a replica that lags at most the bound; yields the scope (``.as_of``)."""
    scope = _Scope()
    if configured() and not _primary_pinned(request) and not connections[DEFAULT_DB_ALIAS].in_atomic_block:
        lag = lag_seconds()
        if lag is not None and lag <= max_lag_seconds():
            scope.alias, scope.lag_seconds = REPLICA, lag
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


def read_alias():
    """The connection a read should use now: the replica only inside a replica scope that has not written, and
    outside any transaction on the primary."""
    scope = _scope.get()
    if scope is None or scope.wrote or scope.alias != REPLICA:
        return DEFAULT_DB_ALIAS
    if connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return DEFAULT_DB_ALIAS
    return REPLICA


def _note_write():
    scope = _scope.get()
    if scope is not None:
        scope.wrote = True
    wrote = _wrote_in_request.get()
    if wrote is not None:
        wrote[0] = True


def reads_from_replica(view):
    """View (or view method) decorator: the view only reads; any write it makes still goes to the primary, after
    which it reads the primary too. Template responses render inside the scope (lazy querysets in templates read
    there as well), a streamed body (CSV export) is produced inside it, and the response carries ``X-Data-As-Of``
    when the replica served it."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        request = args[0] if hasattr(args[0], "COOKIES") else args[1]
        with replica_reads(request) as scope:
            response = view(*args, **kwargs)
            if isinstance(response, TemplateResponse) and not response.is_rendered:
                response.render()
            if getattr(response, "streaming", False):
                response.streaming_content = _within(scope, response.streaming_content)
            as_of = scope.as_of if not scope.wrote else None
            if as_of is not None:
                response["X-Data-As-Of"] = as_of.isoformat(timespec="seconds")
                response["X-Replica-Lag-Seconds"] = f"{scope.lag_seconds:.1f}"
        return response

    return wrapped


def _within(scope, iterable):
    """Each chunk of a streamed body is produced inside the scope the view ran in."""
    iterator = iter(iterable)
    while True:
        token = _scope.set(scope)
        try:
            chunk = next(iterator)
        except StopIteration:
            return
        finally:
            _scope.reset(token)
        yield chunk


def context(request):
    """Template context: ``replica_as_of`` when this page's data came from the replica."""
    scope = _scope.get()
    if scope is None or scope.wrote:
        return {}
    return {"replica_as_of": scope.as_of, "replica_lag_seconds": scope.lag_seconds}


class ReplicaRouter:
    """Reads: the replica inside a replica scope (see read_alias); writes and migrations: the primary only."""

    def db_for_read(self, model, **hints):
        if model._meta.app_label in PRIMARY_ONLY_APPS:
            return DEFAULT_DB_ALIAS
        return read_alias()

    def db_for_write(self, model, **hints):
        _note_write()
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the replica is a copy of the primary: objects from either relate

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS


class ReplicaMiddleware:
    """After a request that wrote, the browser reads the primary for the lag bound (its next page sees the write)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        wrote = [False]
        token = _wrote_in_request.set(wrote)
        try:
            response = self.get_response(request)
        finally:
            _wrote_in_request.reset(token)
        if wrote[0] and configured():
            until = time.time() + max_lag_seconds()
            response.set_cookie(
                PRIMARY_COOKIE, f"{until:.0f}", max_age=int(max_lag_seconds()) + 1, httponly=True, samesite="Lax"
            )
        return response
