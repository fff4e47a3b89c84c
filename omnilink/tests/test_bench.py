"""The OmniLink benchmarks (issue 16, Speed): the open-loop scheduler the click benchmark stands on, and the
webhook benchmark's alternating pairs, at a tiny scale."""

import time

import pytest

from core.benchmarks import open_loop, registry
from omnilink import bench


def test_open_loop_counts_the_wait_of_a_call_that_found_no_free_thread():
    """One thread and calls slower than the interval: each call is due 5 ms after the last but takes 20 ms, so the
    queue grows and the latencies (from the due time) grow with it, as a customer's would."""
    run = open_loop(lambda item: time.sleep(0.02) or item, list(range(40)), rate=200, threads=1)
    assert run.results == list(range(40))
    assert run.timer.samples[-1] > 0.45  # ~ 40 × 20 ms − 39 × 5 ms
    assert run.max_start_lag > 0.4
    assert run.completed_per_s < 60


def test_open_loop_keeps_its_rate_with_threads_to_spare_and_keeps_failures_as_results():
    def call(item):
        if item == 3:
            raise ValueError("refused")
        time.sleep(0.02)
        return item

    run = open_loop(call, list(range(40)), rate=200, threads=10)
    assert isinstance(run.results[3], ValueError)
    assert run.results[:3] == [0, 1, 2]
    assert max(run.timer.samples) < 0.3  # the one-thread run above reaches 0.6 s
    assert 100 < run.sent_per_s < 260


def test_click_benchmark_through_gunicorn_is_registered_and_needs_postgres():
    benches = registry()
    assert benches["omnilink_click_gunicorn"].requires_postgres
    assert not benches["omnilink_webhook"].requires_postgres


@pytest.mark.django_db
def test_webhook_benchmark_runs_alternating_pairs_at_a_tiny_scale():
    figures = list(bench.omnilink_webhook(scale=0.001))
    by_name = {}
    for fig in figures:
        by_name.setdefault(fig["figure"], []).append(fig)
    with_hook, without = by_name["processed_events_per_s"]
    assert with_hook["omnilink"] == "enabled" and without["reference"] == "no_hook"
    assert len(with_hook["runs"]) == len(without["runs"]) == bench.WEBHOOK_PAIRS
    assert len(by_name["overhead_percent"][0]["ratios"]) == bench.WEBHOOK_PAIRS
    assert len(by_name["cpu_overhead_percent"][0]["cpu_ratios"]) == bench.WEBHOOK_PAIRS
    assert 0 < by_name["hook_time_percent"][0]["value"] < 100  # the hook ran (the benchmark asserts once per text)
    assert all(fig["n"] == 50 for fig in figures if fig["figure"] != "hook_time_percent")
