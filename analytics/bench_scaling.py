"""`bench scaling`: how cost grows with the contacts, at two sizes (1,000,000 then 10,000,000 at scale 1).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python manage.py bench scaling [--scale 0.1]

At each size the shared seed_demo team of that size (cdp.bench_data, seeded once and reused) is measured by the
existing benchmarks: customer list first page, the audience count shapes, previews and the broadcast snapshot
(`audiences`), the analytics API, page and one-day / one-month refresh (`analytics`); then, with those tables
holding that many rows, a merge and an events API batch (`merge`, `events_api` at a fixed small size: their cost
at a table size is the question, not their throughput at volume). Every figure is printed per size, then a
`ratio` figure (large / small) per timing. The raw_sql references stay beside their figures.
"""

from audiences.bench import audiences_bench
from cdp.bench import events_api, merge
from cdp.bench_console import customer_list
from core.benchmarks import benchmark, figure

from .bench import analytics_bench

SIZES = (1.0, 10.0)  # × 1,000,000 contacts, times --scale
FIXED = 0.01  # merge and events_api: 1 % of their usual work, on the big tables


def _run(size):
    parts = [
        ("customer_list", lambda: customer_list(scale=size)),
        ("audiences", lambda: audiences_bench(scale=size)),
        ("analytics", lambda: analytics_bench(scale=size)),
        ("merge", lambda: merge(scale=FIXED)),
        ("events_api", lambda: events_api(scale=FIXED)),
    ]
    for part, run in parts:
        for fig in run():
            yield {**fig, "part": part}


@benchmark(
    "scaling",
    help="1M then 10M contacts: customer list, audiences, analytics, rollup refresh, snapshot, merge, events API",
    requires_postgres=True,
)
def scaling(scale=1.0):
    measured = {}
    for size in SIZES:
        contacts = int(1_000_000 * size * scale)
        for fig in _run(size * scale):
            out = {**fig, "contacts": contacts}
            measured.setdefault((fig["part"], fig["figure"], fig.get("reference")), {})[contacts] = fig["value"]
            yield out
    small, large = (int(1_000_000 * size * scale) for size in SIZES)
    for (part, name, reference), values in measured.items():
        a, b = values.get(small), values.get(large)
        if isinstance(a, int | float) and isinstance(b, int | float) and a:
            extra = {"reference": reference} if reference else {}
            yield figure(f"{part}.{name}.ratio", b / a, "x", n=None, small=a, large=b, sizes=[small, large], **extra)
