from core.benchmarks import registry


def test_billing_benchmarks_are_registered_for_postgres():
    benches = registry()
    for name in ("billing_debits", "billing_monthly_bill", "billing_overview"):
        assert benches[name].requires_postgres
