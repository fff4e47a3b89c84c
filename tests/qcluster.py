"""A real django-q2 worker for the fault tests: `manage.py qcluster` on Redis against the test database.

Each worker runs in its own process group (a SIGKILL takes its worker processes with it, like a machine dying),
on its own queue name, and connects with its own PostgreSQL application_name so a test can find its backends in
pg_stat_activity. The test process plays the web server: `send_hints_to` sends its django-q2 hints to the
worker's queue, and `Worker.fire` is what a per-minute Schedule does (a "minute" compressed to what the test needs).
The suite unsets REDIS_URL (bin/test), so the URL is passed to the subprocesses explicitly.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.db import connection
from django_q.brokers.redis_broker import Redis as RedisBroker

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("FAULT_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_up():
    try:
        return redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False


needs_redis = pytest.mark.skipif(not redis_up(), reason=f"needs Redis at {REDIS_URL} (.ci/run starts it)")


def database_url(application_name):
    """The test database, as a DATABASE_URL for a subprocess (dj_database_url passes application_name on)."""
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    return (
        f"postgres://{quote(db['USER'], safe='')}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        f"?application_name={application_name}"
    )


def subprocess_env(queue, application_name, **settings):
    """The environment of a process of the product (worker or load) on this queue and the test database."""
    return {
        **os.environ,
        "DATABASE_URL": database_url(application_name),
        "REDIS_URL": REDIS_URL,
        "Q_NAME": queue,
        "PYTHONPATH": str(ROOT),
        "DEBUG": "1",
        **{key: str(value) for key, value in settings.items()},
    }


class _Broker(RedisBroker):
    @staticmethod
    def get_connection(list_key=None):
        return redis.Redis.from_url(REDIS_URL)


def broker(queue, cluster=None):
    """The Redis list of `queue`'s realtime cluster, or of its heavy one when `cluster` names a heavy cluster."""
    heavy = cluster is not None and cluster.endswith("-heavy")
    return _Broker(list_key=f"{queue}-heavy" if heavy else queue)


def send_hints_to(queue, monkeypatch):
    """The test process's django-q2 tasks (hints, `Worker.fire`) go to `queue` instead of running inline, signed
    as its workers expect (django-q2 salts the signature with the site's cluster name)."""
    from django_q import tasks
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(Conf, "PREFIX", queue)
    monkeypatch.setattr(tasks, "get_broker", lambda cluster=None: broker(queue, cluster))


class Worker:
    """One `manage.py qcluster` on `queue` (its realtime cluster, or the heavy one), started, killed and restarted
    by the test."""

    def __init__(self, queue, *, heavy=False, application_name="fault-worker", log=None, workers=2, **settings):
        self.queue = queue
        self.cluster = f"{queue}-heavy" if heavy else None
        extra = {"Q_CLUSTER_NAME": self.cluster} if heavy else {}
        self.env = subprocess_env(queue, application_name, Q_WORKERS=workers, **extra, **settings)
        self.log = log
        self.process = None
        self.kills = 0

    def start(self):
        output = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115 - the child keeps it
        try:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "qcluster"],
                cwd=ROOT,
                env=self.env,
                start_new_session=True,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        finally:
            if self.log:
                output.close()
        return self

    def kill(self):
        """SIGKILL the whole process group, wherever it is (mid-task, mid-request, between tasks)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.kills += 1

    def restart(self):
        self.kill()
        return self.start()

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def fire(self, func, *args):
        """Enqueue a task on this worker's cluster, as a Schedule does (the test process sends it: send_hints_to)."""
        from django_q.tasks import async_task

        options = {"cluster": self.cluster} if self.cluster else {}
        async_task(func, *args, task_name=f"fired:{func}", **options)

    def cleanup(self):
        self.stop()
        redis.Redis.from_url(REDIS_URL).delete(broker(self.queue, self.cluster).list_key)


def wait_until(condition, *, timeout, every=0.02, tick=None, tick_seconds=1.0):
    """Poll `condition` until it holds or `timeout` s pass; call `tick` every `tick_seconds` meanwhile."""
    deadline = time.monotonic() + timeout
    next_tick = time.monotonic()
    while time.monotonic() < deadline:
        if condition():
            return True
        if tick is not None and time.monotonic() >= next_tick:
            tick()
            next_tick = time.monotonic() + tick_seconds
        time.sleep(every)
    return condition()
