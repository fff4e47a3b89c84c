"""Small shared helpers with no product meaning (CSV writing, parameter parsing, errors, pagination, benchmarks)."""
