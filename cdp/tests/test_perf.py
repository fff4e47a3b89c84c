"""Query counts pinned: a regression to per-event / per-row queries fails here (the speed targets of issue 4).

POST /api/v1/events with identify + binding events costs a fixed number of queries per batch, whatever its size;
a merge costs a fixed number of queries whatever the customers carry. The consumers' hand-off rows
(accounts.Handoff) are inserted in the same transaction with one statement; they are counted apart.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cdp.bench import _batches, _pairs
from cdp.models import Customer
from cdp.services import events_api, identity
from cdp.tests.factories import ChannelFactory

# identify + binding batch: channels, receipts seen, contacts, receipt claim, savepoint, (advisory locks,)
# customers FOR UPDATE, new customers, contacts, bindings, timeline events, savepoint release.
EVENTS_BATCH_MAX_QUERIES = 14
# merge on PostgreSQL: savepoint, lock both, one statement moving every row and writing the record, its snapshot
# and the events, survivor, release.
# SQLite: one more than before the points ledger (the ids of the absorbed customer's ledger rows); PostgreSQL
# moves them inside its one merge statement.
MERGE_MAX_QUERIES = {"postgresql": 5, "sqlite": 20}
TASKS = 'INSERT INTO "accounts_handoff"'


def count(func, tasks=None):
    """The statements func runs, without the cache's; the task inserts go to `tasks` when given."""
    with CaptureQueriesContext(connection) as ctx:
        func()
    queries = [
        q["sql"]
        for q in ctx.captured_queries
        if not q["sql"].startswith(
            (
                'SELECT COUNT(*) FROM "django_cache',
                'SELECT "cache_key"',
                'INSERT INTO "django_cache"',
                'UPDATE "django_cache"',
                'DELETE FROM "django_cache"',
            )
        )
    ]
    if tasks is not None:
        tasks.extend(q for q in queries if q.startswith(TASKS))
        queries = [q for q in queries if not q.startswith(TASKS)]
    return queries


@pytest.mark.django_db
def test_events_batch_costs_a_fixed_number_of_queries(team):
    line = ChannelFactory(team=team, kind="line")
    warm, small, large = _batches(line.pk, 20, "w")[0], _batches(line.pk, 20, "s")[0], _batches(line.pk, 100, "l")[0]
    events_api.process(team, {"events": warm})
    small_queries = count(lambda: events_api.process(team, {"events": small}), tasks=[])
    tasks = []
    large_queries = count(lambda: events_api.process(team, {"events": large}), tasks=tasks)
    assert len(tasks) == 1, "one INSERT for the consumers' hand-off rows of the whole batch"
    if connection.vendor == "postgresql":
        assert len(large_queries) == len(small_queries), "queries grow with the batch size"
        assert len(large_queries) <= EVENTS_BATCH_MAX_QUERIES, "\n".join(large_queries)
    else:  # SQLite splits bulk INSERTs at 999 parameters
        assert len(large_queries) <= EVENTS_BATCH_MAX_QUERIES + 3, "\n".join(large_queries)
    assert Customer.objects.for_team(team).filter(member_id__startswith="l-M", is_bound=True).count() == 50


@pytest.mark.django_db
def test_duplicate_batch_is_cheap(team):
    line = ChannelFactory(team=team, kind="line")
    batch = _batches(line.pk, 100, "d")[0]
    events_api.process(team, {"events": batch})
    queries = count(lambda: events_api.process(team, {"events": batch}))
    assert len(queries) <= 5, "\n".join(queries)


@pytest.mark.django_db
def test_merge_costs_a_fixed_number_of_queries(team):
    pairs = _pairs(team, 2, "q")
    limit = MERGE_MAX_QUERIES[connection.vendor]
    for survivor, absorbed in pairs:
        tasks = []
        queries = count(
            lambda s=survivor, a=absorbed: identity.merge_customers(survivor=s, absorbed=a, evidence={"r": 1}),
            tasks=tasks,
        )
        assert len(queries) <= limit, "\n".join(queries)
        assert len(tasks) == 1, "one INSERT for the consumers' hand-off rows of the merge"
