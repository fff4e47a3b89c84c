from core.benchmarks import registry


def test_billing_benchmarks_are_registered_for_postgres():
    benches = registry()
    assert benches["billing_debits"].requires_postgres and benches["billing_monthly_bill"].requires_postgres
