"""The benchmark registry behind `manage.py bench`.

Each app may have a `bench.py` that registers benchmarks:

    from core.benchmarks import benchmark, figure

    @benchmark("events_api", help="identify + binding events end to end")
    def events_api(ctx):
        ...
        yield figure("events_per_second", 1234.5, "events/s", n=10000)
        yield figure("events_per_second", 2345.6, "events/s", n=10000, reference="raw_sql")

A benchmark is a generator of figures; `manage.py bench` prints one JSON object per figure on its own line.
A figure with `reference="raw_sql"` is the hand-written SQL doing the same work, printed beside the app's one.
"""

import statistics
import time
from dataclasses import dataclass, field

from django.utils.module_loading import autodiscover_modules

_registry = {}


@dataclass
class Benchmark:
    name: str
    func: object
    help: str = ""
    requires_postgres: bool = False


def benchmark(name, *, help="", requires_postgres=False):
    def decorator(func):
        _registry[name] = Benchmark(name=name, func=func, help=help, requires_postgres=requires_postgres)
        return func

    return decorator


def figure(name, value, unit, *, n=None, reference=None, **extra):
    out = {"figure": name, "value": round(value, 3) if isinstance(value, float) else value, "unit": unit, "n": n}
    if reference:
        out["reference"] = reference
    out.update(extra)
    return out


def registry():
    autodiscover_modules("bench")
    return dict(sorted(_registry.items()))


@dataclass
class Timer:
    samples: list = field(default_factory=list)

    def __enter__(self):
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.samples.append(time.perf_counter() - self._start)

    def time(self):
        return self

    def p(self, q):
        ordered = sorted(self.samples)
        if not ordered:
            return 0.0
        index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
        return ordered[index]

    @property
    def median(self):
        return statistics.median(self.samples) if self.samples else 0.0


def analyze_if_no_autovacuum(*tables):
    """ANALYZE `tables` when the server runs without autovacuum (this machine's PostgreSQL does): a live server
    keeps statistics, and a table never analyzed gets row estimates that pick team-only index scans over the
    (team, key) indexes, which measures a server no one runs."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        if cursor.fetchone()[0] == "off":
            for table in tables:
                cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")


@dataclass
class OpenLoopRun:
    """What `open_loop` measured: `timer` holds each call's latency from the time it was due, `results` each
    call's return value (or the exception it raised), in order."""

    timer: Timer
    results: list
    sent_per_s: float  # the rate the calls actually started at
    completed_per_s: float  # calls over the time from the first call's due time to the last return
    max_start_lag: float  # s: how late the latest call started (a busy client, or no free thread)


def open_loop(call, items, rate, threads=64):
    """Call `call(item)` for each item at a fixed arrival rate, open loop: the i-th call is due at start + i / rate
    whether or not the earlier ones have returned, as customers arrive regardless of how the server is doing.
    A latency runs from the call's due time, so a call that waited for a free thread (or a late scheduler) counts
    that wait: a slow server cannot hide its queue by slowing the load down (coordinated omission)."""
    from concurrent.futures import ThreadPoolExecutor

    n = len(items)
    dues, started, ended = [0.0] * n, [0.0] * n, [0.0] * n
    results = [None] * n

    def one(i):
        started[i] = time.perf_counter()
        try:
            results[i] = call(items[i])
        except Exception as exc:  # noqa: BLE001 - kept as the call's result: the caller counts and reports failures
            results[i] = exc
        ended[i] = time.perf_counter()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        start = time.perf_counter() + 0.01
        for i in range(n):
            dues[i] = start + i / rate
            delay = dues[i] - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, i)
    span = max(started) - min(started) if n > 1 else 0.0
    return OpenLoopRun(
        timer=Timer(samples=[end - due for end, due in zip(ended, dues, strict=True)]),
        results=results,
        sent_per_s=(n - 1) / span if span else 0.0,
        completed_per_s=n / (max(ended) - start) if n else 0.0,
        max_start_lag=max((s - d for s, d in zip(started, dues, strict=True)), default=0.0),
    )
